"""Pacer: deadline schedule, lead, stalls without bursts, playout position."""

from __future__ import annotations

import itertools

import pytest

from telephony.pacer import Pacer


def send_when_allowed(pacer: Pacer, clock, n: int, oversleep: float = 0.0) -> list[float]:
    """A sender that sleeps what the pacer says (plus `oversleep`) and sends."""
    times = []
    for _ in range(n):
        delay = pacer.delay()
        if delay > 0:
            clock.advance(delay + oversleep)
        times.append(clock())
        pacer.sent()
    return times


def test_real_time_pacing_one_frame_per_frame_ms(clock) -> None:
    pacer = Pacer(20, clock=clock)
    t0 = clock()
    times = send_when_allowed(pacer, clock, 50)
    gaps = [round((b - a) * 1000, 6) for a, b in itertools.pairwise(times)]
    assert times[0] == t0
    assert gaps == [20.0] * 49


def test_schedule_does_not_drift_when_the_sender_wakes_late(clock) -> None:
    pacer = Pacer(20, clock=clock)
    t0 = clock()
    times = send_when_allowed(pacer, clock, 101, oversleep=0.003)
    # 100 intervals of 20 ms, not 23: lateness under a frame is absorbed.
    assert times[-1] - t0 == pytest.approx(2.0 + 0.003, abs=1e-9)
    assert pacer.stalls == 0


def test_lead_lets_the_sender_run_ahead_by_exactly_lead(clock) -> None:
    pacer = Pacer(20, lead_ms=100, clock=clock)
    t0 = clock()
    times = send_when_allowed(pacer, clock, 20)
    # Each frame leaves 100 ms before it starts playing: frames 0..5 at once.
    assert [round((t - t0) * 1000, 6) for t in times[:8]] == [0, 0, 0, 0, 0, 0, 20, 40]
    assert pacer.buffered_ms() == pytest.approx(120)
    assert pacer.played_ms() == pytest.approx(pacer.sent_ms() - 120)


def test_stall_resumes_from_now_without_a_burst(clock) -> None:
    pacer = Pacer(20, lead_ms=40, clock=clock)
    send_when_allowed(pacer, clock, 10)
    clock.advance(1.0)  # producer had nothing to send for a second
    played_before = pacer.played_ms()
    assert played_before == pytest.approx(200)
    t_resume = clock()
    times = send_when_allowed(pacer, clock, 10)
    offsets = [round((t - t_resume) * 1000, 6) for t in times]
    # Only the configured lead goes out at once (3 frames), then real time.
    assert offsets == [0, 0, 0, 20, 40, 60, 80, 100, 120, 140]
    assert pacer.stalls == 1
    assert pacer.played_ms() == pytest.approx(played_before + 140)


def test_played_position_follows_the_clock_and_never_exceeds_sent(clock) -> None:
    pacer = Pacer(20, lead_ms=1000, clock=clock)
    assert pacer.played_ms() == 0
    pacer.sent(10)  # 200 ms in one go
    assert pacer.played_ms() == 0
    assert pacer.buffered_ms() == pytest.approx(200)
    clock.advance(0.05)
    assert pacer.played_ms() == pytest.approx(50)
    clock.advance(10)
    assert pacer.played_ms() == pytest.approx(200)
    assert pacer.buffered_ms() == 0


def test_reset_discards_backlog_and_keeps_played_position(clock) -> None:
    pacer = Pacer(20, lead_ms=500, clock=clock)
    send_when_allowed(pacer, clock, 20)  # 400 ms, all at once
    clock.advance(0.130)
    assert pacer.reset() == pytest.approx(130)
    assert pacer.sent_ms() == pytest.approx(130)
    assert pacer.buffered_ms() == 0
    assert pacer.delay() == 0
    clock.advance(0.5)
    assert pacer.played_ms() == pytest.approx(130)
    pacer.sent()
    clock.advance(0.01)
    assert pacer.played_ms() == pytest.approx(140)


def test_observe_played_reanchors_on_the_far_end(clock) -> None:
    pacer = Pacer(20, lead_ms=1000, clock=clock)
    pacer.sent(50)  # 1 s
    clock.advance(0.6)
    pacer.observe_played(500)  # the carrier is 100 ms behind our clock
    assert pacer.played_ms() == pytest.approx(500)
    clock.advance(0.1)
    assert pacer.played_ms() == pytest.approx(600)
    pacer.observe_played(5000)  # clamped to what was sent
    assert pacer.played_ms() == pytest.approx(1000)


def test_sent_audio_of_arbitrary_duration(clock) -> None:
    pacer = Pacer(20, clock=clock)
    pacer.sent_audio(55)
    assert pacer.delay() == pytest.approx(0.055)
    with pytest.raises(ValueError):
        pacer.sent_audio(-1)


@pytest.mark.parametrize(("frame_ms", "lead_ms"), [(0, 0), (20, -1)])
def test_invalid_configuration(frame_ms: int, lead_ms: int) -> None:
    with pytest.raises(ValueError):
        Pacer(frame_ms, lead_ms)
