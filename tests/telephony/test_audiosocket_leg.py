"""An AudioSocket leg (CallLeg over the AudioSocket codec, paced by the real-time pump)
with an in-memory socket and virtual time: pump, silence, barge-in; and the codec's
inbound side."""

from __future__ import annotations

import asyncio
import itertools
import struct
import uuid

import pytest

from telephony.carriers.audiosocket import AudioSocketCodec
from telephony.errors import ProtocolError
from telephony.events import CallerAudio, CallStarted, Dtmf, HungUp
from telephony.legs import CallLeg, RealTimePump
from telephony.media import MediaFormat


def tlv(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BH", kind, len(payload)) + payload


class Socket:
    """Records what the leg writes, parsed back into (time, kind, payload)."""

    def __init__(self, vt) -> None:
        self.vt = vt
        self.writes: list[tuple[float, int, bytes]] = []
        self.fail = False

    async def send_bytes(self, data: bytes) -> None:
        if self.fail:
            raise ConnectionResetError("peer went away")
        pos = 0
        while pos < len(data):
            kind, length = struct.unpack_from(">BH", data, pos)
            self.writes.append((self.vt.now, kind, data[pos + 3 : pos + 3 + length]))
            pos += 3 + length

    def speech(self) -> list[bytes]:
        return [p for _, k, p in self.writes if k in (0x10, 0x12) and any(p)]


def speech_frame(i: int, size: int = 320) -> bytes:
    return bytes([(i % 255) + 1]) * size


def make_leg(vt, sample_rate: int = 8000, queue_ms: int = 100) -> tuple[CallLeg, Socket]:
    sock = Socket(vt)
    wire = AudioSocketCodec.for_output(MediaFormat("pcm16", sample_rate, 20))
    pump = RealTimePump(queue_ms=queue_ms)
    leg = CallLeg(wire, sock.send_bytes, pacing=pump, clock=vt.clock, sleep=vt.sleep)
    return leg, sock


async def test_idle_leg_sends_silence_every_20ms(vt) -> None:
    leg, sock = make_leg(vt)
    t0 = vt.now
    leg.start()
    await vt.advance(0.999)
    assert len(sock.writes) == 50
    assert all(k == 0x10 and p == bytes(320) for _, k, p in sock.writes)
    assert [round((t - t0) * 1000, 6) for t, _, _ in sock.writes[:4]] == [0, 20, 40, 60]
    assert leg.played_ms() == 0
    await leg.stop()


async def test_speech_is_paced_in_real_time_between_silence(vt) -> None:
    leg, sock = make_leg(vt)
    leg.start()
    await vt.advance(0.050)  # three silence frames: 0, 20, 40 ms
    frames = [speech_frame(i) for i in range(10)]
    producer = asyncio.ensure_future(send_all(leg, frames))
    await vt.advance(0.300)
    assert producer.done() and all(producer.result())
    kinds = [any(p) for _, _, p in sock.writes]
    assert kinds[:3] == [False] * 3 and kinds[3:13] == [True] * 10 and not any(kinds[13:])
    times = [t for t, _, p in sock.writes if any(p)]
    assert [round((b - a) * 1000, 6) for a, b in itertools.pairwise(times)] == [20] * 9
    assert sock.speech() == frames
    assert leg.played_ms() == pytest.approx(200)
    await leg.stop()


async def send_all(leg: CallLeg, frames: list[bytes]) -> list[bool]:
    return [await leg.send_frame(f) for f in frames]


async def send_until_dropped(leg: CallLeg, frames: list[bytes]) -> list[bool]:
    """A session's sentence loop: it stops feeding once a clear drops a frame."""
    results = []
    for f in frames:
        results.append(await leg.send_frame(f))
        if not results[-1]:
            break
    return results


async def test_producer_gets_back_pressure_from_the_queue(vt) -> None:
    leg, _ = make_leg(vt, queue_ms=100)
    leg.start()
    t0 = vt.now
    await vt.drive(send_all(leg, [speech_frame(i) for i in range(50)]))
    # 5 frames of queue: the producer finishes only 45 frames (900 ms) in.
    assert vt.now - t0 == pytest.approx(0.900)
    assert leg.buffered_ms() == pytest.approx(100 + 20)  # queue + the frame playing
    await leg.stop()


async def test_barge_in_stops_speech_within_one_frame(vt) -> None:
    leg, sock = make_leg(vt)
    leg.start()
    frames = [speech_frame(i) for i in range(100)]
    producer = asyncio.ensure_future(send_until_dropped(leg, frames))
    await vt.advance(0.310)
    cut = await leg.clear()
    t_cut = vt.now
    # The pump's first tick (t=0) found the queue empty and sent silence; speech
    # frames went out at 20..300 ms: 15 of them, the last still playing.
    assert cut == pytest.approx(300)
    assert leg.played_ms() == pytest.approx(290)
    await vt.advance(0.500)
    after = [(t, p) for t, _, p in sock.writes if t > t_cut]
    assert after and not any(any(p) for _, p in after)
    assert producer.done()
    assert producer.result()[-1] is False
    assert sock.speech() == frames[:15]
    assert leg.played_ms() == pytest.approx(300)
    await leg.stop()


async def test_marks_play_by_the_pump_clock_and_are_discarded_by_clear(vt) -> None:
    leg, _ = make_leg(vt)
    leg.start()
    await send_all(leg, [speech_frame(i) for i in range(3)])
    await leg.send_mark("s0")
    await send_all(leg, [speech_frame(i) for i in range(2)])
    await leg.send_mark("s1")
    await vt.advance(0.059)
    assert leg.pop_played_marks() == []
    await vt.advance(0.002)
    assert leg.pop_played_marks() == ["s0"]
    await leg.clear()
    assert leg.pop_discarded_marks() == ["s1"]
    assert leg.pop_played_marks() == []
    await leg.stop()


async def test_wait_played_then_hangup_sends_hangup_last(vt) -> None:
    leg, sock = make_leg(vt)
    leg.start()
    await send_all(leg, [speech_frame(i) for i in range(5)])
    t0 = vt.now
    assert await vt.drive(leg.wait_played()) is True
    assert vt.now - t0 == pytest.approx(0.100)
    await leg.hangup()
    assert sock.writes[-1][1:] == (0x00, b"")
    n = len(sock.writes)
    await vt.advance(1.0)
    assert len(sock.writes) == n
    assert leg.closed
    assert await leg.send_frame(speech_frame(0)) is False


async def test_a_stalled_loop_resumes_without_a_burst(vt) -> None:
    leg, sock = make_leg(vt)
    leg.start()
    await vt.advance(0.030)
    vt.jump(0.500)  # the event loop was blocked for half a second
    t_resume = vt.now
    await vt.advance(0.070)
    resumed = [round((t - t_resume) * 1000, 6) for t, _, _ in sock.writes if t >= t_resume]
    assert resumed == [0, 20, 40, 60]
    await leg.stop()


async def test_16k_leg_uses_slin16_frames(vt) -> None:
    leg, sock = make_leg(vt, sample_rate=16000)
    leg.start()
    await send_all(leg, [speech_frame(1, 640)])
    await vt.advance(0.030)
    assert {k for _, k, _ in sock.writes} == {0x12}
    assert sock.speech() == [speech_frame(1, 640)]
    with pytest.raises(ValueError):
        await leg.send_frame(bytes(320))
    await leg.stop()


def test_only_8k_and_16k_legs() -> None:
    with pytest.raises(ValueError, match="8000 or 16000"):
        AudioSocketCodec.for_output(MediaFormat("pcm16", 24000, 20))


async def test_write_failure_closes_the_leg(vt) -> None:
    leg, sock = make_leg(vt)
    leg.start()
    await vt.advance(0.030)
    sock.fail = True
    await vt.advance(0.030)
    assert leg.closed
    assert isinstance(leg.error, ConnectionResetError)


def test_inbound_bytes_become_shared_call_events_in_any_segmentation() -> None:
    codec = AudioSocketCodec()
    call = uuid.uuid4()
    data = tlv(0x01, call.bytes) + tlv(0x10, bytes(320)) + tlv(0x03, b"5")
    events = codec.receive_bytes(data[:100]) + codec.receive_bytes(data[100:])
    assert events == [
        CallStarted(str(call), encoding="pcm16", sample_rate=8000),
        CallerAudio(bytes(320), "pcm16", 8000),
        Dtmf("5"),
    ]
    assert codec.receive_bytes(tlv(0x12, bytes(640))) == [CallerAudio(bytes(640), "pcm16", 16000)]
    assert codec.receive_bytes(tlv(0x00)) == [HungUp("hangup")]


def test_eof_ends_the_call_and_half_a_message_is_an_error() -> None:
    codec = AudioSocketCodec()
    call = uuid.uuid4()
    codec.receive_bytes(tlv(0x01, call.bytes) + tlv(0x03, b"#")[:2])
    assert codec.receive_bytes(tlv(0x03, b"#")[2:]) == [Dtmf("#")]
    assert codec.receive_eof() == [HungUp("hangup")]
    codec.receive_bytes(tlv(0x10, bytes(320))[:10])
    with pytest.raises(ProtocolError) as info:
        codec.receive_eof()
    assert info.value.code == "closed_mid_message"


def test_anything_but_the_uuid_first_is_refused() -> None:
    with pytest.raises(ProtocolError) as info:
        AudioSocketCodec().receive_bytes(tlv(0x10, bytes(320)))
    assert info.value.code == "no_uuid" and info.value.fatal


async def test_wait_sent_returns_only_once_the_last_frame_is_written(vt) -> None:
    """`flushed` and `done` are built on this: accepted into the queue is not sent."""
    leg, sock = make_leg(vt, queue_ms=100)
    leg.start()
    for i in range(5):  # fills the 100 ms queue: all accepted at once
        assert await leg.send_frame(speech_frame(i))
    sent = asyncio.ensure_future(leg.wait_sent())
    await vt.advance(0.07)  # four of the five frames written by now
    assert len(sock.speech()) == 4 and not sent.done()
    await vt.advance(0.02)
    assert len(sock.speech()) == 5
    assert sent.done() and sent.result() is True
    # With nothing queued it returns at once; after a clear it reports the cut.
    assert await leg.wait_sent() is True
    await leg.send_frame(speech_frame(9))
    await leg.send_frame(speech_frame(10))
    cut = asyncio.ensure_future(leg.wait_sent())
    await asyncio.sleep(0)
    await leg.clear()
    await vt.advance(0.001)
    assert cut.done() and cut.result() is False
    await leg.stop()
