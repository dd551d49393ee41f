"""A Twilio leg (CallLeg over the Twilio codec, sending ahead) with an in-memory sink and
virtual time: lead, marks, clear, playout."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from telephony.carriers.twilio import TwilioCodec
from telephony.legs import CallLeg, SendAhead
from telephony.media import MediaFormat

SID = "MZ0123"


class Sink:
    def __init__(self, vt) -> None:
        self.vt = vt
        self.sent: list[tuple[float, dict]] = []
        self.closed = 0

    async def send_text(self, text: str) -> None:
        self.sent.append((self.vt.now, json.loads(text)))

    async def close(self) -> None:
        self.closed += 1

    def events(self) -> list[str]:
        return [m["event"] for _, m in self.sent]

    def payloads(self) -> list[bytes]:
        media = [m for _, m in self.sent if m["event"] == "media"]
        return [base64.b64decode(m["media"]["payload"]) for m in media]


def make_leg(vt, lead_ms: float = 100) -> tuple[CallLeg, Sink]:
    sink = Sink(vt)
    wire = TwilioCodec.for_output(MediaFormat("mulaw", 8000, 20), SID)
    leg = CallLeg(
        wire,
        sink.send_text,
        pacing=SendAhead(lead_ms),
        close=sink.close,
        clock=vt.clock,
        sleep=vt.sleep,
    )
    return leg, sink


def frame(i: int) -> bytes:
    return bytes([i % 256]) * 160


async def send_frames(leg: CallLeg, frames: list[bytes]) -> list[bool]:
    return [await leg.send_frame(f) for f in frames]


async def test_frames_run_ahead_by_the_lead_then_at_real_time(vt) -> None:
    leg, sink = make_leg(vt, lead_ms=100)
    t0 = vt.now
    results = await vt.drive(send_frames(leg, [frame(i) for i in range(56)]))
    assert all(results)
    assert sink.payloads() == [frame(i) for i in range(56)]
    offsets = [round((t - t0) * 1000, 6) for t, _ in sink.sent]
    assert offsets[:6] == [0] * 6  # 100 ms of lead + the frame itself
    assert offsets[6:9] == [20, 40, 60]
    # 56 frames = 1120 ms of audio sent in 1000 ms: ahead by exactly the lead.
    assert offsets[-1] == 1000
    assert leg.buffered_ms() == pytest.approx(120)
    assert leg.played_ms() == pytest.approx(1000)


async def test_marks_go_out_in_order_after_the_frames(vt) -> None:
    leg, sink = make_leg(vt)
    await vt.drive(send_frames(leg, [frame(i) for i in range(3)]))
    await leg.send_mark("s0")
    await vt.drive(send_frames(leg, [frame(i) for i in range(2)]))
    await leg.send_mark("s1")
    assert sink.events() == ["media"] * 3 + ["mark"] + ["media"] * 2 + ["mark"]
    assert sink.sent[3][1] == {"event": "mark", "streamSid": SID, "mark": {"name": "s0"}}


async def send_until_dropped(leg: CallLeg, n: int) -> int:
    for i in range(n):
        if not await leg.send_frame(frame(i)):
            return i
    return n


async def test_clear_sends_clear_and_reports_the_cut(vt) -> None:
    leg, sink = make_leg(vt, lead_ms=200)
    task = asyncio.ensure_future(send_until_dropped(leg, 100))
    await vt.advance(0.300)
    sent_before = len(sink.payloads())
    assert sent_before == 26  # 300 ms played + 200 ms lead + the frame in hand
    cut = await leg.clear()
    assert cut == pytest.approx(300)
    assert sink.sent[-1][1] == {"event": "clear", "streamSid": SID}
    # Within one frame the waiting producer learns its frame was dropped.
    await vt.advance(0.020)
    assert task.done()
    assert task.result() == 26
    assert len(sink.payloads()) == sent_before
    assert leg.frames_dropped == 1
    assert leg.played_ms() == pytest.approx(300)
    assert leg.buffered_ms() == 0


async def test_after_clear_new_audio_starts_now(vt) -> None:
    leg, sink = make_leg(vt, lead_ms=0)
    await vt.drive(send_frames(leg, [frame(i) for i in range(10)]))
    await vt.advance(0.005)
    cut = await leg.clear()
    assert cut == pytest.approx(185)
    t = vt.now
    await vt.drive(send_frames(leg, [frame(i) for i in range(3)]))
    assert [round((s - t) * 1000, 6) for s, _ in sink.sent[-3:]] == [0, 20, 40]
    await vt.advance(0.060)
    assert leg.played_ms() == pytest.approx(185 + 60)


async def test_mark_echoes_are_told_apart(vt) -> None:
    leg, _ = make_leg(vt, lead_ms=1000)
    await vt.drive(send_frames(leg, [frame(i) for i in range(10)]))
    await leg.send_mark("first")  # at 200 ms
    await vt.drive(send_frames(leg, [frame(i) for i in range(10)]))
    await leg.send_mark("second")  # at 400 ms
    await vt.advance(0.300)
    assert await leg.clear() == pytest.approx(300)
    # Twilio echoes the played mark (maybe already in flight) and the discarded one.
    assert leg.mark_echoed("first") == "played"
    assert leg.mark_echoed("second") == "discarded"
    assert leg.mark_echoed("second") == "unknown"
    assert leg.mark_echoed("never-sent") == "unknown"


async def test_played_mark_echo_corrects_the_clock(vt) -> None:
    leg, _ = make_leg(vt, lead_ms=2000)
    await vt.drive(send_frames(leg, [frame(i) for i in range(25)]))
    await leg.send_mark("half")  # at 500 ms
    await vt.drive(send_frames(leg, [frame(i) for i in range(25)]))
    await vt.advance(0.620)  # our clock says 620 ms played...
    assert leg.mark_echoed("half") == "played"  # ...Twilio says 500 just finished
    assert leg.played_ms() == pytest.approx(500)
    await vt.advance(0.100)
    assert leg.played_ms() == pytest.approx(600)


async def test_wait_played_returns_when_the_audio_has_played(vt) -> None:
    leg, _ = make_leg(vt, lead_ms=500)
    await vt.drive(send_frames(leg, [frame(i) for i in range(20)]))
    t0 = vt.now
    assert await vt.drive(leg.wait_played()) is True
    assert vt.now - t0 == pytest.approx(0.400)


async def test_hangup_closes_once_and_stops_sending(vt) -> None:
    leg, sink = make_leg(vt)
    await leg.hangup()
    await leg.hangup()
    assert sink.closed == 1
    assert leg.closed
    assert await leg.send_frame(frame(0)) is False
    assert await leg.send_mark("x") is False
    assert sink.sent == []


async def test_wrong_frame_size_is_refused(vt) -> None:
    leg, _ = make_leg(vt)
    with pytest.raises(ValueError, match="160"):
        await leg.send_frame(bytes(320))
