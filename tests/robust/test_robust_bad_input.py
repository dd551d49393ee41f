"""Bad input on `/v1/speak`: every case gets a clear error, and nothing else is disturbed.

Each bad message is sent between two good sentences; the session must answer
with exactly one `error` of the expected code, still speak both sentences
byte-exact, and finish with `done`, while a clean bystander session next to it
is spoken exactly with no error at all. Fatal inputs (bad settings) close the
session with 1008 before `ready`; frames the WebSocket layer itself rejects
(invalid UTF-8, oversized) close with the standard codes 1007 and 1009.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from robust_support import (
    Transcript,
    bystander,
    check_spoken,
    open_speak,
    quiesced,
    record,
    send_json,
    serve,
    server_loop,
    speak_url,
    tally,
)

from gateway.config import Settings
from tts_core.sim_engine import SimulatedEngine

SIZES = [
    pytest.param(1, id="small"),
    pytest.param(8, id="full", marks=pytest.mark.robust_full),
]

BEFORE, AFTER = "First part is here.", "Second part follows."

BAD_MESSAGES: list[tuple[str, str | bytes, str]] = [
    ("truncated json", '{"type": "text", "text": ', "malformed_json"),
    ("trailing garbage", '{"type": "flush"} trailing', "malformed_json"),
    ("empty message", "", "malformed_json"),
    ("deep nesting", "[" * 20_000 + "]" * 20_000, "malformed_json"),
    ("array", "[1, 2, 3]", "malformed_message"),
    ("string", '"text"', "malformed_message"),
    ("number", "42", "malformed_message"),
    ("null", "null", "malformed_message"),
    ("no type", '{"text": "hello"}', "malformed_message"),
    ("type not a string", '{"type": 7}', "malformed_message"),
    ("unknown type", '{"type": "speak", "text": "x"}', "unknown_type"),
    ("type case", '{"type": "TEXT", "text": "x"}', "unknown_type"),
    ("text is a number", '{"type": "text", "text": 5}', "invalid_field"),
    ("text is a list", '{"type": "text", "text": ["a"]}', "invalid_field"),
    ("text is null", '{"type": "text", "text": null}', "invalid_field"),
    ("text is NaN", '{"type": "text", "text": NaN}', "invalid_field"),
    ("text missing", '{"type": "text"}', "invalid_field"),
    ("mark without name", '{"type": "mark"}', "invalid_field"),
    ("mark name empty", '{"type": "mark", "name": ""}', "invalid_field"),
    ("mark name too long", json.dumps({"type": "mark", "name": "m" * 300}), "invalid_field"),
    ("mark name object", '{"type": "mark", "name": {"a": 1}}', "invalid_field"),
    ("text lone surrogate", '{"type": "text", "text": "bad \\ud800 text. "}', "invalid_field"),
    ("mark lone surrogate", '{"type": "mark", "name": "\\udfff"}', "invalid_field"),
    ("binary frame", b"\x00\x01\x02 not text", "binary_not_allowed"),
    ("json as binary", b'{"type": "text", "text": "hi"}', "binary_not_allowed"),
    ("too large", json.dumps({"type": "text", "text": "a" * 70_000}), "message_too_large"),
    ("start after text", '{"type": "start", "speed": 1.5}', "already_started"),
]


async def one_bad_message(base: str, raw: str | bytes, code: str) -> None:
    ws, ready = await open_speak(base, speed=2.0)
    assert ready["type"] == "ready"
    async with ws:
        await send_json(ws, type="text", text=BEFORE + " ")
        await ws.send(raw)
        await send_json(ws, type="text", text=AFTER)
        await send_json(ws, type="close")
        got = await record(ws, Transcript())
    assert got.codes() == [code], (raw[:80], got.events)
    assert got.events[-1]["type"] == "done" and got.close_code in (None, 1000)
    check_spoken(got, [BEFORE, AFTER], speed=2.0)
    tally(inputs_tried=1, bad_inputs=1)


@pytest.mark.parametrize("rounds", SIZES)
async def test_bad_messages_get_one_error_and_the_session_goes_on(sim_server, rounds) -> None:
    for _ in range(rounds):
        cases = [one_bad_message(sim_server.ws, raw, code) for _, raw, code in BAD_MESSAGES]
        results = await asyncio.gather(*cases, bystander(sim_server.ws), return_exceptions=True)
        failed = {
            name: repr(r)[:300]
            for (name, _, _), r in zip(BAD_MESSAGES, results, strict=False)
            if isinstance(r, BaseException)
        }
        assert not failed, failed
        assert not isinstance(results[-1], BaseException), results[-1]
    await quiesced(sim_server)


BAD_QUERIES: list[tuple[dict[str, Any], str]] = [
    ({"speed": 5}, "speed"),
    ({"speed": "nan"}, "speed"),
    ({"speed": "fast"}, "speed"),
    ({"speed": "inf"}, "speed"),
    ({"sample_rate": 12345}, "sample_rate"),
    ({"sample_rate": 16000}, "sample_rate"),  # mulaw is 8 kHz only
    ({"frame_ms": 15}, "frame_ms"),
    ({"frame_ms": 0}, "frame_ms"),
    ({"frame_ms": 10**30}, "frame_ms"),
    ({"lead_ms": -1}, "lead_ms"),
    ({"lead_ms": "1e9"}, "lead_ms"),
    ({"encoding": "opus"}, "encoding"),
    ({"format": "xml"}, "format"),
    ({"format": "twilio"}, "stream_sid"),
    ({"format": "audiosocket"}, "encoding"),
    ({"bogus": "1"}, "bogus"),
    ({"voice": "nobody"}, "voice"),
    ({"voice": "v" * 500}, "voice"),
    ({"language": "zz"}, "language"),
]


async def one_bad_query(base: str, query: dict[str, Any], field: str) -> None:
    async with websockets.connect(speak_url(base, **query)) as ws:
        got = await record(ws, Transcript(), until=None, limit_s=10)
    tally(inputs_tried=1, bad_inputs=1, sessions=1)
    assert got.of("ready") == [], (query, got.events)
    errors = got.of("error")
    assert [(e["code"], e.get("field")) for e in errors] == [("invalid_setting", field)], query
    assert got.close_code == 1008, (query, got.close_code)


BAD_STARTS: list[tuple[dict[str, Any], str]] = [
    ({"speed": "fast"}, "speed"),
    ({"frame_ms": True}, "frame_ms"),
    ({"voice": 123}, "voice"),
    ({"sample_rate": [8000]}, "sample_rate"),
    ({"encoding": None, "format": "json", "colour": "red"}, "colour"),
]


async def one_bad_start(base: str, body: dict[str, Any], field: str) -> None:
    ws, ready = await open_speak(base)
    assert ready["type"] == "ready"
    async with ws:
        await send_json(ws, type="start", **body)
        got = await record(ws, Transcript(), until=None, limit_s=10)
    tally(inputs_tried=1, bad_inputs=1)
    assert [(e["code"], e.get("field")) for e in got.of("error")] == [("invalid_setting", field)]
    assert got.close_code == 1008


@pytest.mark.parametrize("rounds", SIZES)
async def test_bad_settings_close_1008_before_ready(sim_server, rounds) -> None:
    for _ in range(rounds):
        cases = [one_bad_query(sim_server.ws, q, f) for q, f in BAD_QUERIES]
        cases += [one_bad_start(sim_server.ws, b, f) for b, f in BAD_STARTS]
        results = await asyncio.gather(*cases, bystander(sim_server.ws), return_exceptions=True)
        failed = [repr(r)[:300] for r in results if isinstance(r, BaseException)]
        assert not failed, failed
    await quiesced(sim_server)


async def test_messages_after_close_are_refused_and_accepted_text_still_spoken(
    sim_server,
) -> None:
    # Paced in real time, so the session is still finishing when the late messages arrive
    # (an unpaced one may already have said `done` and closed).
    ws, _ = await open_speak(sim_server.ws, speed=2.0, lead_ms=0)
    async with ws:
        await send_json(ws, type="text", text=BEFORE)
        await send_json(ws, type="close")
        await send_json(ws, type="text", text="Too late for this. ")
        await send_json(ws, type="flush")
        await send_json(ws, type="close")
        got = await record(ws, Transcript())
    tally(inputs_tried=3, bad_inputs=3)
    assert got.codes() == ["session_closing"] * 3
    check_spoken(got, [BEFORE], speed=2.0)
    assert got.events[-1]["type"] == "done"


async def test_websocket_layer_rejections_leave_other_sessions_alone(sim_server) -> None:
    """Invalid UTF-8 (1007) and a frame over the server's size limit (1009)."""

    async def invalid_utf8() -> int | None:
        ws, _ = await open_speak(sim_server.ws, speed=2.0)
        async with ws:
            await send_json(ws, type="text", text=BEFORE)
            await ws.send(b'{"type":"text","text":"\xff\xfe\xc3"}', text=True)
            got = await record(ws, Transcript(), until=None, limit_s=10)
        return got.close_code

    async def oversized() -> int | None:
        ws, _ = await open_speak(sim_server.ws, speed=2.0)
        async with ws:
            await ws.send(json.dumps({"type": "text", "text": "b" * 300_000}))
            got = await record(ws, Transcript(), until=None, limit_s=10)
        return got.close_code

    codes = await asyncio.gather(invalid_utf8(), oversized(), bystander(sim_server.ws))
    tally(inputs_tried=2, bad_inputs=2)
    assert codes[:2] == [1007, 1009]
    await quiesced(sim_server)


@pytest.fixture(scope="module")
def limited_server() -> Iterator[Any]:
    """Small limits and an engine as slow as real time, so back-pressure must kick in."""
    engine = SimulatedEngine(rtf=1.0)
    settings = Settings(
        engine="sim", audiosocket_port=0, max_session_chars=120, max_queued_sentences=3
    )
    with serve(settings, engine) as running:
        yield running


async def max_queued_while(running: Any, task: asyncio.Future[Any]) -> int:
    """Largest per-session sentence queue seen inside the server loop while `task` runs."""
    loop = server_loop(running)

    async def sample() -> int:
        return max((s.pipeline.queued for s in running.gateway.sessions if s.pipeline), default=0)

    peak = 0
    while not task.done():
        peak = max(peak, asyncio.run_coroutine_threadsafe(sample(), loop).result(5))
        await asyncio.sleep(0.01)
    return peak


@pytest.mark.parametrize(
    "flood",
    [pytest.param(60, id="small"), pytest.param(2000, id="full", marks=pytest.mark.robust_full)],
)
async def test_text_flood_meets_back_pressure_not_unbounded_queues(limited_server, flood) -> None:
    sentences = [f"Item {i}." for i in range(flood)]

    async def flood_session() -> Transcript:
        ws, _ = await open_speak(limited_server.ws, speed=2.0)
        async with ws:
            for text in sentences:
                await send_json(ws, type="text", text=text + " ")
            await send_json(ws, type="close")
            return await record(ws, Transcript(), limit_s=60)

    session = asyncio.ensure_future(flood_session())
    peak = await max_queued_while(limited_server, session)
    got = await session
    codes = got.codes()
    refused = codes.count("queue_full") + codes.count("text_limit")
    assert refused == len(codes) and refused > 0, codes
    tally(inputs_tried=flood, bad_inputs=refused)
    # Every sentence the gateway accepted is spoken, in order, byte-exact; the rest were refused.
    spoken = [t for t, _, _ in got.per_sentence().values()]
    assert len(spoken) == flood - refused
    assert spoken == sorted(spoken, key=lambda t: int(t.split()[1][:-1]))
    check_spoken(got, spoken, speed=2.0)
    # Refused at the limit; the one sentence still held by the segmenter is released at close.
    assert peak <= limited_server.gateway.settings.max_queued_sentences + 1
    await quiesced(limited_server)


async def test_text_limit_refuses_more_text_but_speaks_what_was_accepted(limited_server) -> None:
    texts = ["Sentence number one.", "Sentence number two.", "Sentence number three."]
    ws, _ = await open_speak(limited_server.ws, speed=2.0)
    async with ws:
        for text in texts:
            await send_json(ws, type="text", text=text + " ")
            await asyncio.sleep(0.6)  # let the queue drain so only the text limit applies
        await send_json(ws, type="text", text="x" * 100)
        await send_json(ws, type="close")
        got = await record(ws, Transcript(), limit_s=30)
    tally(inputs_tried=4, bad_inputs=1)
    assert got.codes() == ["text_limit"]
    check_spoken(got, texts, speed=2.0)
