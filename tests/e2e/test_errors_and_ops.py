"""Bad input never touches another session; auth, capacity and the operations endpoints."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from gateway.config import Settings
from telephony.media import MediaFormat

from .client import collect, pieces, speak, url
from .server import serve
from .test_speak import expected_frames

GOOD_TEXT = "The quick brown fox jumps over the lazy dog. Then it naps in the sun."


@pytest.fixture(scope="module")
def server(piper_engine):
    settings = Settings(audiosocket_port=0, max_message_bytes=4096, max_session_chars=3000)
    with serve(settings, piper_engine, cache_entries=32) as running:
        yield running


async def expect_error(ws, message, code: str) -> dict:
    await ws.send(message)
    got = await collect(ws, until="error", limit_s=5)
    errors = got.of("error")
    assert errors, f"no error for {message!r}"
    assert errors[0]["code"] == code, errors[0]
    return errors[0]


async def test_bad_messages_get_codes_and_the_session_still_speaks_and_others_are_untouched(
    server,
) -> None:
    # A well-behaved session runs concurrently from start to end.
    good = asyncio.create_task(speak(server.ws, pieces(GOOD_TEXT, 4), lead_ms=300))
    async with websockets.connect(url(server.ws, lead_ms=60_000)) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "text", "text": "This text was accepted first. "}))
        await expect_error(ws, "{not json", "malformed_json")
        await expect_error(ws, "[1, 2, 3]", "malformed_message")
        await expect_error(ws, json.dumps({"text": "no type"}), "malformed_message")
        await expect_error(ws, json.dumps({"type": "shout"}), "unknown_type")
        err = await expect_error(ws, json.dumps({"type": "text", "text": 42}), "invalid_field")
        assert err["field"] == "text"
        await expect_error(ws, json.dumps({"type": "mark", "name": ["x"]}), "invalid_field")
        await expect_error(ws, b"\x00\x01binary", "binary_not_allowed")
        huge = json.dumps({"type": "text", "text": "a" * 5000})
        await expect_error(ws, huge, "message_too_large")
        await expect_error(ws, json.dumps({"type": "start", "voice": "x"}), "already_started")
        await expect_error(ws, json.dumps({"type": "text", "text": "b " * 1500}), "text_limit")
        # Nothing accepted before the errors is lost.
        await ws.send(json.dumps({"type": "close"}))
        await expect_error(ws, json.dumps({"type": "text", "text": "late"}), "session_closing")
        got = await collect(ws, frame_bytes=160)
        assert [e["text"] for e in got.of("sentence")] == ["This text was accepted first."]
        assert got.frames == expected_frames(server, "This text was accepted first.", MediaFormat())
    other = await good
    assert not other.of("error")
    fmt = MediaFormat()
    assert other.frames == [
        f
        for s in ("The quick brown fox jumps over the lazy dog.", "Then it naps in the sun.")
        for f in expected_frames(server, s, fmt)
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"encoding": "opus"}, "encoding"),
        ({"sample_rate": "11025"}, "sample_rate"),
        ({"encoding": "mulaw", "sample_rate": "16000"}, "sample_rate"),
        ({"frame_ms": "25"}, "frame_ms"),
        ({"speed": "9"}, "speed"),
        ({"speed": "fast"}, "speed"),
        ({"format": "mp3"}, "format"),
        ({"format": "twilio"}, "stream_sid"),
        ({"voice": "nobody"}, "voice"),
        ({"language": "ja"}, "language"),
        ({"volume": "11"}, "volume"),
    ],
)
async def test_invalid_settings_name_the_field_and_close_1008(server, query, field) -> None:
    async with websockets.connect(url(server.ws, **query)) as ws:
        event = json.loads(await ws.recv())
        assert event["type"] == "error" and event["code"] == "invalid_setting"
        assert event["field"] == field
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 1008


async def test_invalid_start_message_closes_1008(server) -> None:
    async with websockets.connect(url(server.ws)) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "start", "sample_rate": True}))
        event = json.loads(await ws.recv())
        assert event["code"] == "invalid_setting" and event["field"] == "sample_rate"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 1008


async def test_operations_endpoints(server) -> None:
    await speak(server.ws, ["Metrics check."])
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        voices = (await http.get("/v1/voices")).json()
        assert voices["engine"] == "piper" and voices["voices"][0]["name"] == "en_US-joe-medium"
        metrics = (await http.get("/metrics")).text
    for name in (
        "voxgate_active_sessions",
        "voxgate_active_calls",
        "voxgate_engine_queue_depth",
        "voxgate_time_to_first_audio_seconds_count",
        "voxgate_synthesis_seconds_count",
        "voxgate_real_time_factor_count",
        "voxgate_cache_hits",
        "voxgate_underruns_total",
        "voxgate_errors_total",
    ):
        assert name in metrics, name
    count = next(
        line
        for line in metrics.splitlines()
        if line.startswith("voxgate_time_to_first_audio_seconds_count")
    )
    assert float(count.split()[-1]) >= 1


def sample(metrics: str, name: str) -> float:
    return next(float(ln.split()[-1]) for ln in metrics.splitlines() if ln.startswith(name + " "))


async def test_cache_hits_are_a_counter_that_counts_each_hit(server) -> None:
    # A counter (rate() works, it never goes down) and exact: one miss, then two hits.
    async with httpx.AsyncClient(base_url=server.http) as http:
        before = (await http.get("/metrics")).text
        assert "# TYPE voxgate_cache_hits_total counter" in before
        for _ in range(3):
            await speak(server.ws, ["Only this module says the cache counter line."])
        after = (await http.get("/metrics")).text
    hits = sample(after, "voxgate_cache_hits_total") - sample(before, "voxgate_cache_hits_total")
    assert hits == 2


async def test_api_keys_guard_v1(piper_engine) -> None:
    with serve(Settings(audiosocket_port=0, api_keys="k1, k2"), piper_engine) as srv:
        async with httpx.AsyncClient(base_url=srv.http) as http:
            assert (await http.get("/v1/voices")).status_code == 401
            bad = await http.get("/v1/voices", headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401
            ok = await http.get("/v1/voices", headers={"Authorization": "Bearer k2"})
            assert ok.status_code == 200
            assert (await http.get("/healthz")).status_code == 200  # liveness stays open
        with pytest.raises(websockets.InvalidStatus) as rejected:
            async with websockets.connect(url(srv.ws)):
                pass
        assert rejected.value.response.status_code == 403
        got = await speak(srv.ws, ["Authorized."], token="k1")
        assert got.frames
        async with websockets.connect(
            url(srv.ws), additional_headers={"Authorization": "Bearer k2"}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"


async def test_over_capacity_closes_1013(piper_engine) -> None:
    with serve(Settings(audiosocket_port=0, max_sessions=1), piper_engine) as srv:
        async with websockets.connect(url(srv.ws)) as first:
            assert json.loads(await first.recv())["type"] == "ready"
            async with websockets.connect(url(srv.ws)) as second:
                event = json.loads(await second.recv())
                assert event["code"] == "over_capacity"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await second.recv()
                assert closed.value.rcvd.code == 1013
            # The first session is unaffected.
            await first.send(json.dumps({"type": "text", "text": "Still here."}))
            await first.send(json.dumps({"type": "close"}))
            got = await collect(first)
            assert got.frames and got.of("done")


async def test_idle_session_is_closed_with_a_reason(piper_engine) -> None:
    with serve(Settings(audiosocket_port=0, session_idle_s=0.3), piper_engine) as srv:
        async with websockets.connect(url(srv.ws)) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            got = await collect(ws, until="never", limit_s=5)
            assert got.of("error")[0]["code"] == "idle_timeout"
            assert got.close_code == 1000
