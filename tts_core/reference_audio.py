"""Reference audio for voice cloning: decoded by a maintained library, then checked.

A cloned voice is only as good as its reference, and a bad one fails late and
obscurely inside the model (a codec encoder fed two samples, a speaker encoder
fed silence). So what a client uploads is decoded here with `soundfile`
(libsndfile: WAV, FLAC, Ogg Vorbis/Opus, MP3), downmixed to mono, and refused
with a reason naming the problem when it is too short or too long, at too low
a rate to carry a voice, has more channels than a recording of one speaker
should, or is (nearly) silent.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from .engine import InvalidRequest

MIN_SECONDS = 1.0
MAX_SECONDS = 30.0
MIN_RATE = 16000
MAX_RATE = 192000
MAX_CHANNELS = 2
SILENCE_DBFS = -50.0  # RMS below this is not a voice
MAX_BYTES = 16 * 1024 * 1024
FORMATS = ("WAV", "FLAC", "OGG", "MP3")


@dataclass(frozen=True)
class Reference:
    wav: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.wav) / self.sample_rate


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(message, field="audio")


def decode_reference(data: bytes) -> Reference:
    """Decode and validate uploaded reference audio; raises `InvalidRequest` (field audio)."""
    import soundfile as sf

    if not data:
        raise _bad("the reference audio is empty")
    if len(data) > MAX_BYTES:
        raise _bad(f"the reference audio is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            if f.format not in FORMATS:
                raise _bad(f"reference audio must be WAV, FLAC, Ogg or MP3, not {f.format}")
            rate, channels = int(f.samplerate), int(f.channels)
            if channels > MAX_CHANNELS:
                raise _bad(f"reference audio has {channels} channels; send mono or stereo")
            if not MIN_RATE <= rate <= MAX_RATE:
                raise _bad(
                    f"reference audio at {rate} Hz is too narrow; send {MIN_RATE} Hz or more"
                )
            audio = f.read(frames=int(MAX_SECONDS * rate) + 1, dtype="float32", always_2d=True)
    except InvalidRequest:
        raise
    except Exception as exc:  # libsndfile's errors: not audio, truncated, unknown codec
        raise _bad(f"the reference audio could not be decoded ({exc})") from exc
    wav = audio.mean(axis=1).astype(np.float32)
    seconds = len(wav) / rate
    if seconds > MAX_SECONDS:
        raise _bad(f"reference audio is longer than {MAX_SECONDS:g} s; send a 3-20 s clip")
    if seconds < MIN_SECONDS:
        raise _bad(f"reference audio is {seconds:.2f} s; send at least {MIN_SECONDS:g} s (3-20 s)")
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
    if rms <= 0 or 20 * np.log10(rms) < SILENCE_DBFS:
        raise _bad("the reference audio is silent; send a recording of the voice")
    return Reference(np.clip(wav, -1.0, 1.0), rate)
