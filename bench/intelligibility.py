"""Scenario `intelligibility`: does the caller hear the numbers, dates and codes we meant?

Each sample sentence (bench/asr.py: amounts, dates, times, phone numbers, codes,
addresses, units ...) is rendered by the bundled Piper voice twice, as written
and after text normalization, and each rendering is heard twice by Whisper base
on the CPU: through the phone path (8 kHz µ-law frames from the telephony
encoder, decoded and resampled to 16 kHz) and wideband (the engine's audio at
16 kHz). The figure is the word error rate per category against a hand-written
spoken form, counted on normalized words so the recognizer's own formatting
("$42.50" for "forty-two dollars and fifty cents") is not an error.

In-process (no gateway): the gateway adds nothing to what is said, and a
recognizer in the client would compete with a server for the same two cores.
`--quick` takes the first sample of each category.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from typing import Any

from . import asr
from .common import Options, write_result

VARIANTS = ("as_written", "normalized")
PATHS = ("phone", "wideband")


def _samples(quick: bool) -> list[asr.Sample]:
    if not quick:
        return list(asr.SAMPLES)
    seen: set[str] = set()
    picked = []
    for sample in asr.SAMPLES:
        if sample.category not in seen:
            seen.add(sample.category)
            picked.append(sample)
    return picked


def measure(samples: list[asr.Sample]) -> dict[str, Any]:
    from tts_core.normalize import normalize
    from tts_core.piper_engine import PiperEngine

    engine = PiperEngine()
    engine.load()
    model = asr.load_model()
    rate = engine.sample_rate
    errors: dict[tuple[str, str, str], int] = defaultdict(int)
    words: dict[str, int] = defaultdict(int)
    rows = []
    for sample in samples:
        reference = asr.canonical(sample.spoken)
        words[sample.category] += len(reference)
        row: dict[str, Any] = {"category": sample.category, "written": sample.written}
        for variant in VARIANTS:
            text = sample.written if variant == "as_written" else normalize(sample.written, "en")
            pcm = asr.render_steady(engine, text)
            for path in PATHS:
                audio = asr.phone_path(pcm, rate) if path == "phone" else asr.wideband(pcm, rate)
                heard = asr.transcribe(model, audio)
                count = asr.word_errors(reference, asr.canonical(heard))
                errors[(sample.category, variant, path)] += count
                row[f"{variant}_{path}"] = {"heard": heard, "word_errors": count}
            row[f"{variant}_text"] = text
        row["reference_words"] = len(reference)
        rows.append(row)
        print(f"  {sample.category}: {sample.written}", file=sys.stderr, flush=True)
    per_category = {
        cat: {
            f"{variant}_{path}": round(errors[(cat, variant, path)] / n, 3)
            for variant in VARIANTS
            for path in PATHS
        }
        | {"reference_words": n}
        for cat, n in words.items()
    }
    total = sum(words.values())
    overall = {
        f"{variant}_{path}": round(
            sum(errors[(c, variant, path)] for c in words) / max(total, 1), 3
        )
        for variant in VARIANTS
        for path in PATHS
    }
    return {"wer": per_category, "overall": overall, "reference_words": total, "samples": rows}


def run(opts: Options) -> None:
    started = time.monotonic()
    samples = _samples(opts.quick)
    data = measure(samples)
    data["recognizer"] = "Whisper base (CTranslate2, int8, CPU), greedy"
    data["voice"] = "Piper en_US-joe-medium, noise 0"
    write_result(opts, "intelligibility", data, started)
