"""In-process measurements of the batched Qwen runtime: the model, its steps, the stock path.

The checkpoint is built here with random weights at a chosen shape (nothing can
be downloaded; every figure from it is labelled "random weights"): `tiny` is the
test suite's model, where per-step overhead dominates as kernel launches do on a
GPU; `0.6b` is the released 0.6B shape (talker 28 x 1024, code predictor
5 x 1024, 12 Hz codec decoder at qwen-tts's default size). Random weights never
emit the end token, so every request runs a fixed number of frames.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

FRAME_S = 0.08  # one 12 Hz codec frame
TEXT = "Please hold while I transfer your call."
PUBLISHED_06B_PARAMS = 0.9e9  # talker + code predictor + text embedding, ~906M


def _shim() -> None:
    from tests.support import torchaudio_shim

    torchaudio_shim.install()


def build(shape: str, cache: Path) -> Path:
    """A random-weight checkpoint of `shape` under `cache` (built once, then reused)."""
    _shim()
    from tests.qwen import tiny_checkpoint as tc

    folder = cache / f"voxgate-bench-qwen-{shape}"
    if (folder / "config.json").is_file() and (folder / "speech_tokenizer").is_dir():
        return folder
    shapes: dict[str, dict[str, Any]] = {
        "tiny": {},
        "0.6b": {
            "talker": tc.TALKER_06B,
            "predictor": tc.PREDICTOR_06B,
            "codec_decoder": tc.CODEC_DECODER_06B,
        },
    }
    if shape not in shapes:
        raise ValueError(f"unknown shape {shape!r}; choose {', '.join(shapes)}")
    tc.build_tiny_checkpoint(folder, seed=0, **shapes[shape])
    return folder


def parameters(folder: Path) -> dict[str, Any]:
    """Parameter counts read from the checkpoint's safetensors headers (no loading)."""

    def count(path: Path) -> int:
        with path.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        total = 0
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            n = 1
            for dim in meta["shape"]:
                n *= dim
            total += n
        return total

    main = sum(count(p) for p in folder.glob("*.safetensors"))
    codec = sum(count(p) for p in (folder / "speech_tokenizer").glob("*.safetensors"))
    return {
        "talker_and_predictor": main,
        "codec": codec,
        "published_0_6b": PUBLISHED_06B_PARAMS,
        "ratio_to_published": round(main / PUBLISHED_06B_PARAMS, 3),
    }


def load(folder: Path, device: str, *, slots: int, graphs: bool | None, **kw: Any) -> Any:
    _shim()
    from tts_core.qwen import QwenEngine

    engine = QwenEngine(
        str(folder), device=device, slots=slots, seed=1, cuda_graphs=graphs, **kw
    )  # fmt: skip
    started = time.perf_counter()
    engine.load()
    engine.load_s = time.perf_counter() - started  # type: ignore[attr-defined]
    return engine


def _sync(engine: Any) -> None:
    torch = engine._torch
    if torch.cuda.is_available() and engine.resolved.get("device", "cpu").startswith("cuda"):
        torch.cuda.synchronize()


def step_times(engine: Any, batches: list[int], *, warm: int, steps: int) -> list[dict[str, Any]]:
    """Time the decode loop at each batch size: whole iterations (decode, scheduling,
    streaming codec decode) and the batched decode step alone."""
    runtime = engine._runtime
    decode_s: list[float] = []
    real_decode = runtime._decode

    def timed(rows: int, attend: int) -> None:
        _sync(engine)
        t = time.perf_counter()
        real_decode(rows, attend)
        _sync(engine)
        decode_s.append(time.perf_counter() - t)

    runtime.use_decoder(timed)
    out = []
    try:
        # First use pays one-time costs (allocator, kernel selection): not a step's cost.
        runtime.submit(TEXT, "ryan", "english", budget_tokens=12, seed=0, sink=lambda _i: None)
        runtime.run_until_idle()
        for batch in batches:
            if batch > runtime.slots:
                continue
            seqs = [
                runtime.submit(TEXT, "ryan", "english",
                               budget_tokens=warm + steps + 8, seed=i, sink=lambda _i: None)
                for i in range(batch)
            ]  # fmt: skip
            while any(s.slot < 0 for s in seqs):
                runtime.step()
            for _ in range(warm):
                runtime.step()
            decode_s.clear()
            _sync(engine)
            t = time.perf_counter()
            for _ in range(steps):
                runtime.step()
            _sync(engine)
            loop_s = (time.perf_counter() - t) / steps
            step_s = sum(decode_s) / len(decode_s)
            for s in seqs:
                runtime.cancel(s)
            runtime.run_until_idle()
            out.append({
                "batch": batch,
                "loop_ms": round(loop_s * 1000, 2),
                "decode_ms": round(step_s * 1000, 2),
                "frames_per_s": round(batch / loop_s, 1),
                "x_real_time": round(batch * FRAME_S / loop_s, 2),
            })  # fmt: skip
    finally:
        runtime.use_decoder(real_decode)
    return out


def stock_speed(folder: Path, device: str, *, frames: int, runs: int) -> dict[str, Any]:
    """Today's path for comparison: `generate_custom_voice`, one sentence at a time."""
    from tts_core.engine import SynthesisRequest

    engine = load(folder, device, slots=1, graphs=False, runtime="stock", max_frames=frames)
    try:
        request = SynthesisRequest(TEXT, "ryan", "english")
        list(engine.synthesize(request))  # warm-up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            audio = sum(c.size for c in engine.synthesize(request))
            times.append(time.perf_counter() - t)
        seconds = min(times)
        audio_s = audio / engine.sample_rate
        return {
            "frames": frames,
            "seconds": round(seconds, 3),
            "frames_per_s": round(audio_s / FRAME_S / seconds, 1),
            "x_real_time": round(audio_s / seconds, 2),
        }
    finally:
        engine.unload()
