"""Attacks on a live gateway: call takeover, greeting overflow, mark floods, slow headers.

Each attack runs next to a real call or session that must come out untouched
(byte-exact audio, its own events only), and afterwards the gateway holds no
call, session or task the attack left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from robust_support import (
    Transcript,
    as_message,
    as_uuid,
    bystander,
    expected_frames,
    live_sessions,
    metric,
    note_memory,
    open_speak,
    quiesced,
    record,
    rss_mb,
    send_json,
    serve,
    server_loop,
    server_task_names,
    speak_url,
    tally,
    twilio_msg,
    twilio_start,
    wait_until,
)
from test_robust_carriers import SLIN8, AsteriskPeer, TwilioPeer

from gateway.config import Settings
from telephony.carriers.audiosocket import Kind
from tts_core.sim_engine import SimulatedEngine


async def audiosocket_call(port: int, call_id: uuid.UUID) -> AsteriskPeer:
    peer = await AsteriskPeer.connect(port)
    await peer.send(as_uuid(call_id.bytes))
    return peer


async def attach(base: str, **query: Any) -> tuple[Any, dict[str, Any]]:
    for _ in range(100):  # the call registers once the server has read its first message
        ws, first = await open_speak(base, speed=2.0, **query)
        if first["type"] == "ready":
            return ws, first
        assert first["code"] == "unknown_call", first
        await ws.close()
        await asyncio.sleep(0.02)
    raise AssertionError(f"no call for {query}")


async def impostor_twilio(base: str, sid: str, call_sid: str, **params: str) -> int:
    """Open /twilio claiming these ids; return the close code the gateway answers with."""
    async with websockets.connect(f"{base}/twilio") as tws:
        await tws.send(twilio_msg("connected", None))
        await tws.send(twilio_start(sid, call_sid, **params))
        await tws.send(twilio_msg("dtmf", sid, dtmf={"digit": "9", "track": "inbound_track"}))
        try:
            while True:
                await asyncio.wait_for(tws.recv(), 5)
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else 1006


async def test_no_leg_can_take_over_a_live_call(sim_server) -> None:
    base, port = sim_server.ws, sim_server.audiosocket_port
    call_id = uuid.uuid4()
    real = await audiosocket_call(port, call_id)
    app, ready = await attach(base, call=str(call_id))
    assert ready["carrier"] == "audiosocket" and ready["call"] == str(call_id)
    twilio = TwilioPeer(await websockets.connect(f"{base}/twilio"), "MZlive")
    await twilio.ws.send(twilio_msg("connected", None))
    await twilio.ws.send(twilio_start("MZlive", "CAlive", session="live-alias"))
    await wait_until(lambda: sim_server.gateway.calls.get("CAlive") is not None, 5)
    before = metric(sim_server, "voxgate_errors_total", code="call_id_taken")
    async with app:
        # A Twilio leg claiming the AudioSocket call's UUID as callSid or streamSid,
        # a second AudioSocket with the same UUID, and Twilio legs reusing the live
        # Twilio call's callSid, streamSid or alias: all refused, closed with a reason.
        codes = await asyncio.gather(
            impostor_twilio(base, "MZimpostor1", str(call_id)),
            impostor_twilio(base, str(call_id), "CAimpostor2"),
            impostor_twilio(base, "MZimpostor3", "CAlive"),
            impostor_twilio(base, "MZlive", "CAimpostor4"),
            impostor_twilio(base, "MZimpostor5", "CAimpostor5", session="live-alias"),
        )
        assert codes == [1008] * 5
        second = await audiosocket_call(port, call_id)
        await asyncio.wait_for(second.eof.wait(), 5)  # refused: closed without a word
        assert second.kinds == set()
        second.writer.close()
        # An alias is never looked up as a carrier id: equal strings, separate namespaces.
        alias_is_uuid = asyncio.ensure_future(
            impostor_twilio(base, "MZimpostor6", "CAimpostor6", session=str(call_id))
        )
        await wait_until(lambda: sim_server.gateway.calls.get("CAimpostor6") is not None, 5)
        async with websockets.connect(speak_url(base, call=str(call_id))) as again:
            busy = await record(again, Transcript(), until=None, limit_s=5)
        assert busy.codes() == ["call_busy"]  # still the real call, still ours
        assert metric(sim_server, "voxgate_errors_total", code="call_id_taken") - before == 6
        tally(inputs_tried=7, bad_inputs=7)

        # The real call is untouched: its app's text becomes its audio, byte-exact,
        # and no impostor's DTMF reached it.
        text = "Your account is secure."
        await send_json(app, type="text", text=text)
        await send_json(app, type="flush")
        got = await record(app, Transcript(), until="flushed", limit_s=15)
        assert got.of("dtmf") == []
        expected = expected_frames(text, 2.0, SLIN8)
        await wait_until(lambda: len(real.speech) >= len(expected), 5, "the real call's audio")
        assert real.speech == expected
        tally(frames_checked=len(expected), sentences_checked=1)
        await twilio.ws.send(twilio_msg("stop", "MZimpostor6"))
    alias_is_uuid.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await alias_is_uuid
    await twilio.ws.close()
    await real.finish()
    await quiesced(sim_server)
    assert sim_server.gateway.calls.all() == []


GREETING_UNITS = ["a. ", "Dr. ", "Thanks for calling. "]


@pytest.mark.parametrize(
    "connections",
    [pytest.param(30, id="small"), pytest.param(600, id="full", marks=pytest.mark.robust_full)],
)
async def test_greeting_overflow_leaves_no_dead_call(sim_server, connections) -> None:
    """A greeting longer than the sentence queue used to raise after registration: the
    call was never ended (600 connections left 601 dead, attachable calls)."""
    base = sim_server.ws
    rss_before = rss_mb()

    async def one(n: int) -> None:
        unit = GREETING_UNITS[n % len(GREETING_UNITS)]
        greeting = unit * (60_000 // len(unit))
        sid = f"MZgreet{n}"
        async with websockets.connect(f"{base}/twilio", max_size=2**22) as tws:
            await tws.send(twilio_msg("connected", None))
            await tws.send(twilio_start(sid, f"CAgreet{n}", greeting=greeting))
            first = json.loads(await asyncio.wait_for(tws.recv(), 10))
            assert first["event"] == "media"  # the greeting plays
            await tws.send(twilio_msg("stop", sid))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(tws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000

    async def attack() -> None:
        for start in range(0, connections, 30):
            await asyncio.gather(*(one(n) for n in range(start, min(connections, start + 30))))

    # A clean session speaks while the greetings flood in: byte-exact, no error.
    attacking = asyncio.create_task(attack())
    frames = 0
    while not attacking.done():
        frames += await bystander(base)
    await attacking
    assert frames > 0
    tally(inputs_tried=connections, bad_inputs=connections, sessions=connections)
    await quiesced(sim_server)
    assert sim_server.gateway.calls.all() == []
    assert not [n for n in server_task_names(sim_server) if n.startswith("voxgate-")]
    assert live_sessions(sim_server) == 0
    note_memory(f"greeting_overflow_{connections}", rss_mb() - rss_before)


@pytest.mark.parametrize(
    "marks",
    [
        pytest.param(5_000, id="small"),
        pytest.param(200_000, id="full", marks=pytest.mark.robust_full),
    ],
)
async def test_mark_flood_is_capped_and_the_session_goes_on(sim_server, marks) -> None:
    limit = sim_server.gateway.settings.max_pending_marks
    rss_before = rss_mb()

    async def flood() -> tuple[Counter[str], int, list[dict[str, Any]]]:
        """Send the marks; count what comes back (keeping 200k events would measure us)."""
        ws, _ = await open_speak(sim_server.ws, speed=2.0, lead_ms=200)
        codes: Counter[str] = Counter()
        played = 0
        tail: list[dict[str, Any]] = []
        async with ws:
            # A sentence first: the marks wait for its audio to play, so they pile up.
            await send_json(ws, type="text", text="A sentence that takes a while to play out. ")
            await send_json(ws, type="flush")

            async def read() -> None:
                nonlocal played
                async for msg in ws:
                    if isinstance(msg, bytes):
                        continue
                    event = json.loads(msg)
                    if event["type"] == "error":
                        codes[event["code"]] += 1
                    elif event["type"] == "mark":
                        played += event["played"] is True
                    else:
                        tail.append(event)

            reader = asyncio.ensure_future(read())
            for i in range(marks):
                await ws.send(json.dumps({"type": "mark", "name": f"m{i}"}))
                if i % 1000 == 999:
                    # Stay within a few thousand unanswered marks: a client that floods faster
                    # than the gateway reads is cut off by the keepalive ping (1011), which is
                    # also fine, but here the session must live to show it is unharmed.
                    await wait_until(
                        lambda i=i: sum(codes.values()) + played >= i - limit - 2000, 60
                    )
            await send_json(ws, type="close")
            await asyncio.wait_for(reader, 180)
        return codes, played, tail

    session = asyncio.ensure_future(flood())
    side = asyncio.ensure_future(bystander(sim_server.ws))
    peak = await peak_while(sim_server, session, lambda s: s.pipeline.pending_markers)
    codes, played, tail = await session
    await side
    refused = codes["too_many_marks"]
    assert set(codes) == {"too_many_marks"} and refused > 0
    assert played + refused == marks  # every mark is echoed as played or refused, none lost
    assert peak <= limit + 2  # one marker may be in flight between the two stages
    assert tail[-1]["type"] == "done"
    tally(inputs_tried=marks, bad_inputs=refused, sessions=1)
    await quiesced(sim_server)
    assert live_sessions(sim_server) == 0
    note_memory(f"mark_flood_{marks}", rss_mb() - rss_before)


async def peak_while(running: Any, task: asyncio.Future[Any], measure: Any) -> int:
    """Largest `measure(session)` seen inside the server loop while `task` runs."""
    loop = server_loop(running)

    async def sample() -> int:
        return max((measure(s) for s in running.gateway.sessions if s.pipeline), default=0)

    peak = 0
    while not task.done():
        peak = max(peak, asyncio.run_coroutine_threadsafe(sample(), loop).result(5))
        await asyncio.sleep(0.005)
    return peak


@pytest.fixture(scope="module")
def guarded_server() -> Iterator[Any]:
    """Short head and carrier timeouts, few connections and AudioSocket calls."""
    settings = Settings(
        engine="sim",
        audiosocket_port=1,
        header_timeout_s=0.5,
        keep_alive_s=0.5,
        max_connections=40,
        carrier_start_timeout_s=0.5,
        audiosocket_idle_s=0.5,
        max_audiosocket_calls=3,
    )
    with serve(settings, SimulatedEngine(rtf=0.0)) as running:
        yield running


def _partial_request(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(data)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024) == b""
    except (ConnectionResetError, TimeoutError):
        return False


@pytest.mark.parametrize(
    "count",
    [pytest.param(30, id="small"), pytest.param(2_000, id="full", marks=pytest.mark.robust_full)],
)
async def test_slow_request_heads_are_closed_and_others_are_served(guarded_server, count) -> None:
    port = int(guarded_server.http.rsplit(":", 1)[1])
    heads = [b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"GET /v1/speak?voice=", b"G"]

    def attack() -> list[bool]:
        socks = []
        for i in range(count):
            with contextlib.suppress(OSError):
                socks.append(_partial_request(port, heads[i % len(heads)]))
        closed = [_closed_by_server(s) for s in socks]
        for s in socks:
            s.close()
        return closed

    attack_task = asyncio.ensure_future(asyncio.to_thread(attack))
    # A well-behaved session meanwhile; within the connection limit it is served.
    if count <= 30:
        assert await bystander(guarded_server.ws) > 0
    closed = await attack_task
    assert closed and all(closed), f"{closed.count(False)} partial requests still open"
    tally(inputs_tried=count, bad_inputs=count)
    # Afterwards the gateway answers again, whatever the connection limit refused meanwhile.
    assert await bystander(guarded_server.ws) > 0
    await quiesced(guarded_server)


async def test_a_slowloris_that_keeps_sending_is_closed_too(guarded_server) -> None:
    port = int(guarded_server.http.rsplit(":", 1)[1])

    def drip() -> bool:
        sock = _partial_request(port, b"GET /healthz HTTP/1.1\r\n")
        try:
            for _ in range(20):  # one header byte every 100 ms: never a whole head
                sock.sendall(b"X")
                sock.settimeout(0.1)
                with contextlib.suppress(TimeoutError):
                    if sock.recv(1024) == b"":
                        return True
            return False
        except (BrokenPipeError, ConnectionResetError):
            return True
        finally:
            sock.close()

    assert await asyncio.to_thread(drip)


def _no_call_lines(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if "without a call" in r.getMessage()]


async def test_silent_carrier_sockets_are_closed(guarded_server, caplog) -> None:
    caplog.set_level(logging.INFO, logger="gateway.carriers.twilio")
    base, port = guarded_server.ws, guarded_server.audiosocket_port
    # A /twilio socket that never sends `start`.
    async with websockets.connect(f"{base}/twilio") as tws:
        await tws.send(twilio_msg("connected", None))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(tws.recv(), 5)
    assert closed.value.rcvd.code == 1008 and closed.value.rcvd.reason == "no start"
    # And one that leaves before it: both say why in the log.
    async with websockets.connect(f"{base}/twilio") as tws:
        await tws.send(twilio_msg("connected", None))
    await wait_until(lambda: len(_no_call_lines(caplog)) >= 2, 5)
    assert sorted(_no_call_lines(caplog)) == [
        "twilio socket closed without a call: closed before start",
        "twilio socket closed without a call: no start in time",
    ]
    # An AudioSocket call that sends its UUID and then nothing: hung up.
    call_id = uuid.uuid4()
    peer = await audiosocket_call(port, call_id)
    app, _ = await attach(base, call=str(call_id))
    async with app:
        end = await record(app, Transcript(), until="call_ended", limit_s=5)
    assert end.of("call_ended")[0]["reason"] == "idle_timeout"
    await asyncio.wait_for(peer.eof.wait(), 5)
    assert peer.hangup
    await quiesced(guarded_server)


async def test_an_audiosocket_call_that_sends_only_dtmf_is_hung_up(guarded_server) -> None:
    # "No audio" is the rule, not "nothing": a fake peer sending a DTMF every 100 ms (five
    # within the 0.5 s limit) must not keep a call slot. (Calls that send audio stay up:
    # every other AudioSocket test.)
    base, port = guarded_server.ws, guarded_server.audiosocket_port
    keypad = uuid.uuid4()
    peer = await audiosocket_call(port, keypad)
    app, _ = await attach(base, call=str(keypad))

    async def press() -> None:
        while not peer.eof.is_set():
            with contextlib.suppress(ConnectionError):
                await peer.send(as_message(Kind.DTMF, b"5"))
            await asyncio.sleep(0.1)

    presser = asyncio.create_task(press())
    try:
        async with app:
            end = await record(app, Transcript(), until="call_ended", limit_s=5)
        assert end.of("call_ended")[0]["reason"] == "idle_timeout"
        assert len(end.of("dtmf")) >= 2  # its DTMF arrived all along: it was not "nothing"
        await asyncio.wait_for(peer.eof.wait(), 5)
        assert peer.hangup
    finally:
        presser.cancel()
    await quiesced(guarded_server)


async def test_audiosocket_connections_are_capped(guarded_server) -> None:
    port = guarded_server.audiosocket_port
    peers = [await audiosocket_call(port, uuid.uuid4()) for _ in range(3)]
    await wait_until(lambda: len(guarded_server.gateway.calls.all()) == 3, 5)
    extra = await audiosocket_call(port, uuid.uuid4())
    await asyncio.wait_for(extra.eof.wait(), 5)  # refused at once
    assert len(guarded_server.gateway.calls.all()) == 3
    assert metric(guarded_server, "voxgate_errors_total", code="audiosocket_over_capacity") >= 1
    for p in peers:
        p.writer.close()
    await quiesced(guarded_server)
