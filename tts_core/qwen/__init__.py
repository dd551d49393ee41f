"""Qwen3-TTS: the engine, and the batched streaming runtime behind it.

- engine.py     the `Engine` the speech core sees (load, voices, submit, stream)
- voices.py     speakers and languages, and how client names map to them
- runtime.py    the decode loop: admit, decode, stream, retire
- scheduler.py  who joins and who leaves between steps (decides)
- runner.py     prefill and the batched decode step (executes)
- kv_cache.py   slots of preallocated key/value memory (owns memory)
- sampling.py   per-slot sampling with qwen-tts's processors
- streaming.py  chunked codec decode with left context
- graphs.py     CUDA graph capture of the decode step
- internals.py  every access to qwen-tts internals (pinned to 0.1.1)
"""

from .engine import DEFAULT_MODEL, QwenEngine

__all__ = ["DEFAULT_MODEL", "QwenEngine"]
