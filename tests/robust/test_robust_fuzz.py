"""Hypothesis-driven fuzzing of `/v1/speak` messages and the AudioSocket byte stream.

Each `/v1/speak` example opens a session, sends a random mix of valid,
malformed and binary messages, then `clear` and `close`: whatever came before,
the session must answer only with known events and error codes (never
`internal`), and end with `done` or, after a fatal setting, a 1008 close. Each
AudioSocket example writes random bytes (with or without a valid UUID first)
in random segments and closes its side: the server must close too, having sent
nothing but audio or hangup. After every run the gateway holds no session or
call and a clean session is still spoken byte-exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from robust_support import (
    KNOWN_ERROR_CODES,
    Transcript,
    as_message,
    as_uuid,
    bystander,
    quiesced,
    record,
    speak_url,
    tally,
)

from telephony.carriers.audiosocket import Kind

SIZES = [
    pytest.param(40, id="small"),
    pytest.param(1500, id="full", marks=pytest.mark.robust_full),
]
EVENT_TYPES = {"ready", "sentence", "sentence_end", "flushed", "cleared", "mark", "error", "done"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
setting_values = st.fixed_dictionaries(
    {},
    optional={
        "speed": st.one_of(st.floats(0, 3), st.text(max_size=4)),
        "encoding": st.sampled_from(["mulaw", "alaw", "pcm16", "opus", 3]),
        "sample_rate": st.sampled_from([8000, 16000, 24000, 44100, "8000"]),
        "frame_ms": st.integers(-10, 120),
        "format": st.sampled_from(["binary", "json", "twilio", "audiosocket", "xml"]),
        "lead_ms": st.integers(-5, 70_000),
        "stream_sid": st.text(max_size=8),
        "voice": st.sampled_from(["tone", "nobody", ""]),
    },
)
messages = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=30)),
    st.sampled_from([{"type": "flush"}, {"type": "clear"}]),
    st.builds(lambda n: {"type": "mark", "name": n}, st.text(max_size=12)),
    st.builds(lambda s: {"type": "start", **s}, setting_values),
    st.builds(
        lambda t, v: {"type": t, "text": v}, st.sampled_from(["text", "nope", 5]), json_values
    ),
    json_values,
).map(json.dumps)
raw_frames = st.one_of(messages, messages, st.text(max_size=40), st.binary(max_size=40))


async def fuzz_session(base: str, sent: list[str | bytes]) -> None:
    async with websockets.connect(speak_url(base, lead_ms=60_000, speed=2.0)) as ws:
        try:
            for raw in sent:
                await ws.send(raw)
            await ws.send(json.dumps({"type": "clear"}))
            await ws.send(json.dumps({"type": "close"}))
        except websockets.ConnectionClosed:
            pass  # closed on a fatal message; the transcript says why
        got = await record(ws, Transcript(), until=None, limit_s=20)
    tally(inputs_tried=len(sent), sessions=1)
    assert {e.get("type") for e in got.events} <= EVENT_TYPES, got.events
    codes = set(got.codes())
    assert codes <= KNOWN_ERROR_CODES, codes
    if got.close_code == 1008:
        assert got.events[-1]["type"] == "error" and got.events[-1]["code"] == "invalid_setting"
    else:
        assert got.close_code in (None, 1000), (got.close_code, got.events[-3:])
        assert got.events[-1]["type"] == "done", got.events[-3:]


@pytest.mark.parametrize("examples", SIZES)
def test_fuzz_speak_messages(sim_server, examples) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=examples < 100,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(raw_frames, min_size=1, max_size=8))
    def run(sent: list[str | bytes]) -> None:
        asyncio.run(fuzz_session(sim_server.ws, sent))

    run()

    async def after() -> None:
        await quiesced(sim_server)
        await bystander(sim_server.ws)

    asyncio.run(after())


def segments(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


audiosocket_streams = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda u, body: as_uuid(u.bytes) + body,
        st.uuids(),
        st.lists(
            st.one_of(
                st.binary(max_size=12),
                st.builds(
                    as_message,
                    st.sampled_from([0x00, 0x03, 0x10, 0x12, 0x42, 0xFF]),
                    st.binary(max_size=8),
                ),
                st.builds(lambda n: as_message(Kind.SLIN, b"\x00\x01" * n), st.integers(0, 200)),
            ),
            max_size=6,
        ).map(b"".join),
    ),
)


async def fuzz_audiosocket(port: int, data: bytes, cuts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    try:
        with contextlib.suppress(OSError):  # the server may close first, on a protocol error
            for piece in segments(data, cuts):
                writer.write(piece)
                await writer.drain()
            writer.write_eof()
        with contextlib.suppress(ConnectionError):
            received = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    tally(inputs_tried=1)
    pos = 0
    while pos + 3 <= len(received):
        kind, length = received[pos], int.from_bytes(received[pos + 1 : pos + 3], "big")
        assert kind in (Kind.SLIN, Kind.HANGUP), f"sent kind {kind:#x} to Asterisk"
        pos += 3 + length
    assert pos == len(received), "the server sent a partial message"


@pytest.mark.parametrize("examples", SIZES)
def test_fuzz_audiosocket_bytes(sim_server, examples) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=examples < 100,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(audiosocket_streams, st.lists(st.integers(0, 2**16), max_size=4))
    def run(data: bytes, cuts: list[int]) -> None:
        asyncio.run(fuzz_audiosocket(sim_server.audiosocket_port, data, cuts))

    run()

    async def after() -> None:
        await quiesced(sim_server)
        await bystander(sim_server.ws)

    asyncio.run(after())


def test_segments_cover_the_stream() -> None:
    data = bytes(range(10))
    assert b"".join(segments(data, [3, 7, 3, 99])) == data
    assert segments(b"", [5]) == []
