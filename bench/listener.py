"""What a phone listener hears, reconstructed from frame arrival times.

A listener starts playing at the first frame and then needs one frame every
`frame_s`. A frame that arrives after its playout time is an underrun: the
listener heard silence in the middle of an answer. The gap is excused when
the sentence it belongs to had not been released to the gateway yet (the
application's text was late, not the gateway), which is the same rule the
gateway's own `voxgate_underruns_total` counter uses.

Pacing lateness compares each arrival with the sender's ideal schedule: a
paced sender may run at most `lead_s` ahead of playout, so frame `i` is due
at `play_i - lead_s` (never before the stream began). Lateness beyond a few
milliseconds is jitter the far end's buffer has to absorb.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# Arrival noise below this is not a gap a listener could hear.
EPSILON_S = 1e-4


@dataclass
class Playout:
    frames: int = 0
    underruns: int = 0
    underrun_s: float = 0.0
    starved: int = 0  # gaps caused by text that had not arrived yet (excused)
    lateness_s: list[float] = field(default_factory=list)


def play(
    arrivals: Sequence[float],
    frame_s: float,
    lead_s: float,
    *,
    excused: Callable[[int, float], bool] | None = None,
) -> Playout:
    """Replay `arrivals` (seconds, one per frame, in order) through a listener.

    `excused(i, dry_at)` says whether a gap before frame `i`, which the
    listener noticed at `dry_at`, was the text's fault rather than the gateway's.
    """
    out = Playout(frames=len(arrivals))
    play_at: float | None = None
    run_start = 0.0
    for i, t in enumerate(arrivals):
        if play_at is None:
            play_at = run_start = t
        elif t > play_at + EPSILON_S:
            if excused is not None and excused(i, play_at):
                out.starved += 1
            else:
                out.underruns += 1
                out.underrun_s += t - play_at
            play_at = run_start = t
        out.lateness_s.append(max(0.0, t - max(run_start, play_at - lead_s)))
        play_at += frame_s
    return out
