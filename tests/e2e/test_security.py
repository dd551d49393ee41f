"""Credentials, origins and exposure: keys three ways and never logged, foreign pages refused,
operations endpoints apart, no internals in public answers, clean 4xx for odd input."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import struct

import httpx
import pytest
import websockets

from gateway.config import Settings
from gateway.logs import JsonFormatter, RedactSecrets

from .client import collect, speak, url
from .peers import AsteriskPeer, TwilioPeer
from .server import free_port, serve
from .test_call_legs import wait_for

KEY = "k-Sup3rSecret-42"


def key_protocols(key: str) -> list[str]:
    encoded = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    return ["voxgate", f"voxgate.key.{encoded}"]


@pytest.fixture(scope="module")
def keyed(piper_engine):
    settings = Settings(
        audiosocket_port=0, api_keys=f"{KEY},other", allowed_origins="https://app.example.com"
    )
    with serve(settings, piper_engine) as running:
        yield running


async def test_the_key_is_accepted_as_header_query_or_subprotocol(keyed) -> None:
    got = await speak(keyed.ws, ["By query."], token=KEY)
    assert got.frames
    headers = {"Authorization": f"Bearer {KEY}"}
    async with websockets.connect(url(keyed.ws), additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
    # Browsers cannot set headers on a WebSocket: the key travels as a subprotocol, and
    # the gateway answers with plain `voxgate` (never echoing the key).
    async with websockets.connect(url(keyed.ws), subprotocols=key_protocols(KEY)) as ws:
        assert ws.subprotocol == "voxgate"
        assert json.loads(await ws.recv())["type"] == "ready"
    for protocols in (key_protocols("wrong"), ["voxgate", "voxgate.key.!!notbase64"]):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url(keyed.ws), subprotocols=protocols):
                pass
        assert refused.value.response.status_code == 403


async def test_a_non_ascii_key_or_signature_is_refused_not_a_server_error(keyed, piper_engine):
    async with httpx.AsyncClient(base_url=keyed.http) as http:
        bad = await http.get("/v1/voices", params={"token": "clé-ünïcode"})
        assert bad.status_code == 401
        raw = await http.get(
            "/v1/voices", headers={"Authorization": "Bearer \xe9\xe9".encode("latin-1")}
        )
        assert raw.status_code == 401
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url(keyed.ws, token="ключ")):
            pass
    assert refused.value.response.status_code == 403


async def test_foreign_browser_origins_are_refused(keyed) -> None:
    evil = {"Origin": "https://evil.example"}
    for path in ("/v1/speak", "/twilio"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{keyed.ws}{path}?token={KEY}", additional_headers=evil):
                pass
        assert refused.value.response.status_code == 403
    async with httpx.AsyncClient(base_url=keyed.http) as http:
        page = await http.get("/v1/voices", params={"token": KEY}, headers=evil)
        assert page.status_code == 403
    host = keyed.http.removeprefix("http://")
    for origin in (f"http://{host}", "https://app.example.com"):  # our own, and an allowed one
        async with websockets.connect(
            url(keyed.ws, token=KEY), additional_headers={"Origin": origin}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
    # Servers and SDKs send no Origin at all: unaffected (every other test here).


async def test_the_demo_page_gets_security_headers(keyed) -> None:
    async with httpx.AsyncClient(base_url=keyed.http) as http:
        for path in ("/", "/static/app.js"):
            headers = (await http.get(path)).headers
            csp = headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"


async def test_credentials_never_reach_a_log_line(keyed, caplog) -> None:
    """Every way a key arrives, through the formatter production uses."""
    formatter, redact = JsonFormatter(), RedactSecrets()
    caplog.set_level(logging.INFO)
    await speak(keyed.ws, ["Logged."], token=KEY)
    async with websockets.connect(url(keyed.ws), subprotocols=key_protocols(KEY)) as ws:
        await ws.recv()
    # The server logs a session's end after its client saw the close: wait for the line.
    await wait_for(lambda: any("session ended" in r.getMessage() for r in caplog.records), 5)
    logging.getLogger("uvicorn.error").info(
        '127.0.0.1:1 - "WebSocket /v1/speak?voice=x&token=%s" [accepted]', KEY
    )
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", f"/v1/voices?token={KEY}", "1.1", 200
    )
    logging.getLogger("test").info("headers %s", {"authorization": f"Bearer {KEY}"})
    lines = [formatter.format(r) for r in caplog.records if redact.filter(r)]
    assert any("[redacted]" in line for line in lines)
    encoded = key_protocols(KEY)[1].removeprefix("voxgate.key.")
    assert not [line for line in lines if KEY in line or encoded in line]
    assert not [line for line in lines if "color_message" in line]
    ended = [json.loads(line) for line in lines if '"session ended"' in line]
    assert ended and all(e["reason"] and e["duration_s"] >= 0 for e in ended)


async def test_operations_endpoints_can_live_on_their_own_port(piper_engine) -> None:
    ops_port = free_port()
    settings = Settings(audiosocket_port=0, ops_port=ops_port, api_keys=KEY)
    with serve(settings, piper_engine) as srv:
        async with httpx.AsyncClient(base_url=srv.http) as public:
            assert (await public.get("/metrics")).status_code == 404
            assert (await public.get("/readyz")).status_code == 404
            assert (await public.get("/healthz")).status_code == 200
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ops_port}") as ops:
            assert "voxgate_active_sessions" in (await ops.get("/metrics")).text
            ready = await ops.get("/readyz")
            assert ready.status_code == 200 and ready.json()["loaded"] is True
            assert (await ops.get("/v1/voices")).status_code == 404  # nothing public here


async def test_readiness_never_loads_the_engine() -> None:
    from tts_core.sim_engine import SimulatedEngine

    engine = SimulatedEngine()
    with serve(Settings(engine="sim", audiosocket_port=0), engine) as srv:
        async with httpx.AsyncClient(base_url=srv.http) as http:
            for _ in range(3):
                body = (await http.get("/readyz")).json()
                assert body == {"status": "ready", "engine": "sim", "loaded": False}
        assert engine.load_count == 0  # a GPU load per probe would defeat idle unload


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('{"type": "text", "text": "x", "n": ' + "9" * 5000 + "}", "malformed_json"),
        ('{"type": "start", "speed": ' + "9" * 4000 + "}", "invalid_setting"),
        ('{"type": "start", "lead_ms": ' + "9" * 4000 + "}", "invalid_setting"),
    ],
)
async def test_huge_integers_are_a_clean_error(keyed, message, code) -> None:
    async with websockets.connect(url(keyed.ws, token=KEY)) as ws:
        await ws.recv()
        await ws.send(message)
        event = json.loads(await ws.recv())
        assert event["type"] == "error" and event["code"] == code
        assert len(event["message"]) < 500  # the number is not echoed back whole
        if code == "malformed_json":  # the session goes on
            await ws.send(json.dumps({"type": "text", "text": "Still fine."}))
            await ws.send(json.dumps({"type": "close"}))
            got = await collect(ws)
            assert got.frames and got.of("done")


async def test_client_text_is_clipped_in_errors_and_logs(keyed, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with websockets.connect(url(keyed.ws, token=KEY)) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "x" * 20_000}))
        event = json.loads(await ws.recv())
    assert event["code"] == "unknown_type" and len(event["message"]) < 500
    logged = [r.getMessage() for r in caplog.records if "unknown_type" in r.getMessage()]
    assert logged and all(len(m) < 600 for m in logged)


@pytest.fixture(scope="module")
def carriers():
    from tts_core.sim_engine import SimulatedEngine

    with serve(Settings(engine="sim", audiosocket_port=1), SimulatedEngine()) as running:
        yield running


def carrier_lines(caplog, *loggers: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name in loggers]


async def test_carrier_garbage_is_clipped_in_logs(carriers, caplog) -> None:
    """What Twilio or Asterisk peers send is as untrusted as client text: at most a few
    hundred characters of it reach a log line, however much was sent."""
    caplog.set_level(logging.INFO)
    huge = "Q" * 20_000
    peer = TwilioPeer(f"{carriers.ws}/twilio", call_sid="CA" + "7" * 32)
    async with peer:
        await peer.ws.send(json.dumps({"event": huge, "streamSid": peer.stream_sid}))
        await peer.ws.send(
            json.dumps({"event": "dtmf", "streamSid": peer.stream_sid, "dtmf": {"digit": huge}})
        )
        await peer.ws.send(json.dumps({"event": "mark", "streamSid": peer.stream_sid,
                                       "mark": {"name": huge}}))  # fmt: skip
        twilio_log = "gateway.carriers.twilio"
        twilio = lambda: [m for m in carrier_lines(caplog, twilio_log) if "Q" * 50 in m]  # noqa: E731
        await wait_for(lambda: len(twilio()) >= 2)
    # An AudioSocket peer whose first message is 60 KB of "audio" instead of its UUID, and
    # a live call that sends a 60 KB DTMF payload.
    reader, writer = await asyncio.open_connection("127.0.0.1", carriers.audiosocket_port)
    writer.write(b"\x10" + struct.pack(">H", 60_000) + b"Q" * 60_000)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # refused
    writer.close()
    async with AsteriskPeer(carriers.audiosocket_port) as asterisk:
        await asterisk.send(b"\x03" + struct.pack(">H", 60_000) + b"Q" * 60_000)
        audiosocket = lambda: carrier_lines(caplog, "gateway.carriers.audiosocket")  # noqa: E731
        await wait_for(lambda: any("protocol error" in m for m in audiosocket()))
    rejected = [m for m in audiosocket() if "rejected" in m or "protocol error" in m]
    assert len(rejected) >= 2, audiosocket()
    for line in twilio() + rejected:
        assert len(line) < 600, len(line)
