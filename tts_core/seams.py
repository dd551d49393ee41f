"""Joining the audio of a sentence rendered in pieces (see `tts_core.pieces`).

Why: an engine renders each piece as an utterance of its own, with its own
leading and trailing silence (Piper: about 30-70 ms before and 130-250 ms
after). Played back to back, a cut between two words would leave a quarter of
a second of silence in the middle of a phrase, and a piece that ends on a
non-zero sample (the sim engine's tone, a cut inside a breath) would click
against the next one.

So at each seam the silence is trimmed to what a listener expects there: the
trailing silence of a piece is kept up to a comma's pause when the cut was at
a clause boundary and to a short word gap otherwise, and the next piece's
leading silence to a few milliseconds; both sides get a short fade, so the
signal meets the seam at zero. The first piece keeps its leading silence and
the last its trailing one: the sentence as a whole starts and ends as the
engine made it. A sentence rendered whole passes through untouched.
"""

from __future__ import annotations

import numpy as np

SILENCE = 328  # |sample| below this (-40 dBFS) counts as silence
FADE_MS = 4.0
LEAD_KEEP_MS = 10.0
# Silence kept after a piece, by where it was cut (the longest pause at the seam).
PAUSE_KEEP_MS = {"clause": 300.0, "word": 40.0, "": 40.0}

_EMPTY = np.zeros(0, dtype=np.int16)


def _loud(x: np.ndarray, threshold: int) -> np.ndarray:
    return np.flatnonzero(np.abs(x.astype(np.int32)) >= threshold)


def _ramp(x: np.ndarray, n: int, rising: bool) -> np.ndarray:
    """`x` with a linear fade over its first (rising) or last (falling) `n` samples."""
    n = min(n, len(x))
    if n <= 0:
        return x
    out = x.astype(np.float32)
    gain = np.linspace(0.0, 1.0, n + 1, dtype=np.float32)[1:]
    if rising:
        out[:n] *= gain
    else:
        out[len(out) - n :] *= gain[::-1]
    return np.round(out).astype(np.int16)


class SeamJoiner:
    """Streams one piece's chunks at a time, trimming and fading where pieces meet.

    Call `begin` before each piece, `feed` with its chunks, `end` after it;
    concatenated, everything returned is the sentence.
    """

    def __init__(self, sample_rate: int, *, threshold: int = SILENCE) -> None:
        self.threshold = threshold
        self._fade = max(1, round(sample_rate * FADE_MS / 1000))
        self._lead_keep = round(sample_rate * LEAD_KEEP_MS / 1000)
        self._ms = sample_rate / 1000
        self.begin(first=True, last=True, seam="")

    def begin(self, *, first: bool, last: bool, seam: str) -> None:
        """A new piece: `first`/`last` in its sentence; `seam` is how it was cut from the rest."""
        self._trim_lead = not first
        self._trim_tail = not last
        self._pause = round(PAUSE_KEEP_MS.get(seam, PAUSE_KEEP_MS[""]) * self._ms)
        self._lead = _EMPTY  # quiet samples seen before the piece's first sound
        self._in_sound = not self._trim_lead
        self._to_fade_in = self._fade if self._trim_lead else 0
        self._held = _EMPTY  # tail held back until we know whether sound follows

    def feed(self, chunk: np.ndarray) -> np.ndarray:
        """Audio of this piece that can be played now."""
        if not self._trim_lead and not self._trim_tail:
            return chunk  # a sentence rendered whole: exactly what the engine made
        data = np.asarray(chunk, dtype=np.int16)
        if not self._in_sound:
            data = np.concatenate([self._lead, data])
            loud = _loud(data, self.threshold)
            if loud.size == 0:
                self._lead = data[len(data) - self._lead_keep :]
                return _EMPTY
            data = data[max(0, int(loud[0]) - self._lead_keep) :]
            self._in_sound, self._lead = True, _EMPTY
        if self._to_fade_in:
            faded = _ramp(data[: self._to_fade_in], self._to_fade_in, rising=True)
            data = np.concatenate([faded, data[len(faded) :]])
            self._to_fade_in -= len(faded)
        if not self._trim_tail:
            return data
        data = np.concatenate([self._held, data])
        loud = _loud(data, self.threshold)
        sound_end = int(loud[-1]) + 1 if loud.size else 0
        cut = max(0, min(sound_end, len(data) - self._fade))
        self._held = data[cut:]
        return data[:cut]

    def end(self) -> np.ndarray:
        """The rest of this piece: its trailing silence cut to the seam's pause, faded out."""
        held, self._held = self._held, _EMPTY
        if not self._trim_tail or not self._in_sound:
            return held
        loud = _loud(held, self.threshold)
        sound_end = int(loud[-1]) + 1 if loud.size else 0
        return _ramp(held[: sound_end + self._pause], self._fade, rising=False)
