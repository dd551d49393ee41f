"""Streaming codec decode: when a request's frames become audio, and how.

A phone caller should hear the first syllable as soon as a few codec frames
exist (80 ms of audio each), not when the sentence is done. So each request
decodes a small first chunk (`first_frames`), then chunks that grow to
`chunk_frames` but are never longer than the audio already sent: after the
first chunk the listener holds only `first_frames` x 80 ms, and the next chunk
must be decoded before that runs out, at whatever step time the batch has
(3, 3, 6, 8, 8, ... frames by default).
The 12 Hz codec decoder is causal but has a long memory (a transformer with a
72-frame window ahead of its convolutions), so each chunk is decoded with
`context_frames` of the frames before it and only its own samples are kept:
with too little context the seams are audible (vLLM-Omni found 25 frames noisy
and moved to 72, their issue #2439); with 72 the chunked audio matches a
whole-utterance decode to within float rounding.

Chunks that are due in the same step are decoded together: windows are padded
on the right (harmless for a causal decoder: nothing before the padding can
see it) and run as one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tts_core.engine import float_to_int16

from .internals import QwenModel


@dataclass(frozen=True)
class ChunkPolicy:
    first_frames: int = 3
    chunk_frames: int = 8
    context_frames: int = 72
    streaming: bool = True

    def __post_init__(self) -> None:
        if self.first_frames < 1 or self.chunk_frames < 1 or self.context_frames < 0:
            raise ValueError("chunk sizes must be >= 1 frame and context >= 0 frames")

    def ready(self, produced: int, emitted: int, final: bool) -> bool:
        """Whether frames [emitted, produced) should be decoded now."""
        if produced <= emitted:
            return False
        if final:
            return True
        if not self.streaming:
            return False
        return produced - emitted >= self.due(emitted)

    def due(self, emitted: int) -> int:
        """Frames the next chunk waits for, after `emitted` frames already sent."""
        if emitted == 0:
            return self.first_frames
        return min(self.chunk_frames, max(self.first_frames, emitted))


@dataclass(frozen=True)
class Window:
    """Frames [start, end) of `slot` to turn into audio, decoded from `first`.

    `lead` holds frames that come before the slot's first one (a cloned voice's
    reference frames in ICL mode: qwen-tts decodes them in front of the generated
    ones and cuts their audio), decoded as left context and never emitted."""

    slot: int
    first: int
    start: int
    end: int
    lead: Any = None

    @property
    def lead_frames(self) -> int:
        return 0 if self.lead is None else int(self.lead.shape[0])


def window(policy: ChunkPolicy, slot: int, emitted: int, produced: int,
           lead: Any = None) -> Window:  # fmt: skip
    """The window for frames [emitted, produced) with `context_frames` before them,
    taken from `lead` (the frames before the slot's first) where the slot has too few."""
    first = max(0, emitted - policy.context_frames)
    short = policy.context_frames - emitted
    tail = lead[-short:] if lead is not None and short > 0 and first == 0 else None
    return Window(slot, first, emitted, produced, tail)


def decode_windows(model: QwenModel, codes: Any, windows: list[Window]) -> list[np.ndarray]:
    """Decode several slots' windows in one codec batch; int16 audio per window.

    `codes` is the cache manager's [slots, max_len, groups] frame store. The
    transformer half of the decoder sees each window's whole left context; the
    convolution half only the few frames its receptive field needs
    (`model.conv_context`), which is where the audio-rate cost is.
    """
    if not windows:
        return []
    torch = model.torch
    spf = model.shape.samples_per_frame
    # Per window: its length with any lead frames, and where its own audio starts.
    spans = [w.end - w.first + w.lead_frames for w in windows]
    owns = [w.start - w.first + w.lead_frames for w in windows]
    batch = torch.zeros(
        (len(windows), max(spans), codes.shape[-1]), dtype=codes.dtype, device=codes.device
    )
    for i, w in enumerate(windows):
        if w.lead is not None:
            batch[i, : w.lead_frames] = w.lead.to(device=codes.device, dtype=codes.dtype)
        batch[i, w.lead_frames : spans[i]] = codes[w.slot, w.first : w.end]
    hidden = model.codec_hidden(batch)
    ctx = model.conv_context
    # Per window, where its convolutions start (relative to its first frame).
    starts = [0 if ctx is None else max(0, own - ctx) for own in owns]
    widest = max(span - a for span, a in zip(spans, starts, strict=True))
    conv_in = hidden.new_zeros((len(windows), hidden.shape[1], widest))
    for i, (span, a) in enumerate(zip(spans, starts, strict=True)):
        conv_in[i, :, : span - a] = hidden[i, :, a:span]
    wav = model.codec_waveform(conv_in).float().cpu().numpy()
    return [
        float_to_int16(wav[i, (own - a) * spf : (span - a) * spf])
        for i, (own, span, a) in enumerate(zip(owns, spans, starts, strict=True))
    ]
