"""Frame pacing on a monotonic deadline clock, and the playout position it implies.

Sans-I/O: the pacer never sleeps. A sender asks `delay()`, sleeps that long
itself, sends, then calls `sent()`. The model is a far end that plays audio as
soon as it has it, at real time: `play_end` is the clock time at which all audio
sent so far will have played. A frame may leave once the unplayed backlog is at
most `lead_ms` (0 = strictly real time, as Asterisk AudioSocket needs; a few
hundred ms for carriers that buffer, like Twilio).

Deadlines are a schedule, not "sleep frame_ms after each send": a sender that
wakes a little late keeps the schedule (no drift). A sender late by more than
one frame has stalled (the far end ran dry), so the schedule restarts from now
instead of bursting the missed frames to catch up. What has played is what was
sent minus the backlog, so a barge-in can tell how much audio was heard.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Pacer"]

# Waits shorter than this are "now": a sleeper woken at its exact deadline can
# see a float residue of 1e-17 s, and must not sleep again for it.
_GRANULARITY_S = 1e-6


class Pacer:
    """Deadline clock for fixed-duration frames with a bounded lead."""

    def __init__(
        self,
        frame_ms: float,
        lead_ms: float = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if frame_ms <= 0:
            raise ValueError(f"frame_ms must be positive, got {frame_ms}")
        if lead_ms < 0:
            raise ValueError(f"lead_ms must not be negative, got {lead_ms}")
        self.frame_ms = float(frame_ms)
        self.lead_ms = float(lead_ms)
        self._clock = clock
        self._frame_s = frame_ms / 1000.0
        self._lead_s = lead_ms / 1000.0
        self._sent_s = 0.0
        self._play_end: float | None = None
        self.stalls = 0

    def _backlog_s(self, now: float) -> float:
        if self._play_end is None:
            return 0.0
        return max(0.0, self._play_end - now)

    def _deadline(self, now: float) -> float:
        if self._play_end is None:
            return now
        return max(now, self._play_end - self._lead_s)

    def deadline(self) -> float:
        """Clock time at which the next frame may leave."""
        return self._deadline(self._clock())

    def delay(self) -> float:
        """Seconds to wait before the next frame may leave (0 = now)."""
        now = self._clock()
        wait = self._deadline(now) - now
        return wait if wait > _GRANULARITY_S else 0.0

    def sent(self, n_frames: int = 1) -> None:
        """Record that `n_frames` frames just left."""
        self.sent_audio(n_frames * self.frame_ms)

    def sent_audio(self, ms: float) -> None:
        """Record that `ms` of audio just left (for senders with odd-sized chunks)."""
        if ms < 0:
            raise ValueError(f"cannot send negative audio ({ms} ms)")
        now = self._clock()
        if self._play_end is None:
            self._play_end = now
        elif self._play_end < now - self._frame_s:
            self._play_end = now
            self.stalls += 1
        self._play_end += ms / 1000.0
        self._sent_s += ms / 1000.0

    def sent_ms(self) -> float:
        """Audio sent and not discarded by `reset()`, cumulative."""
        return self._sent_s * 1000.0

    def buffered_ms(self) -> float:
        """Audio sent but not yet played, by this clock."""
        return self._backlog_s(self._clock()) * 1000.0

    def played_ms(self) -> float:
        """Audio played so far, by this clock; never more than was sent."""
        return max(0.0, self._sent_s - self._backlog_s(self._clock())) * 1000.0

    def reset(self) -> float:
        """Barge-in: drop the unplayed backlog; return the played position kept."""
        now = self._clock()
        self._sent_s = max(0.0, self._sent_s - self._backlog_s(now))
        self._play_end = now
        return self._sent_s * 1000.0

    def observe_played(self, played_ms: float) -> None:
        """Re-anchor on the far end's own word (e.g. a Twilio mark echo).

        The carrier knows better than our clock, so this may move the played
        position either way; it is clamped to what was actually sent.
        """
        now = self._clock()
        played_s = min(max(played_ms / 1000.0, 0.0), self._sent_s)
        self._play_end = now + (self._sent_s - played_s)
