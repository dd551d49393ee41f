"""Stand-in `torchaudio` and `sox` modules so `import qwen_tts` works in the CPU test environment.

Why this exists: `qwen-tts` imports `torchaudio.compliance.kaldi` and `sox` at module
level, but only its 25 Hz speech tokenizer ever calls them. The test environment
installs the CPU build of torch, and every current torchaudio wheel pins a CUDA torch,
so the real package cannot be installed beside it; `sox` wraps a command-line binary
the tests never need. The 12 Hz model the engine and its tests use never reaches
either module, so a stand-in that fails loudly if it ever is called is enough.

This lives under `tests/` on purpose: the product (`voxgate[qwen]`) installs the real
packages and must never silently run on stand-ins.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from typing import NoReturn

STUB_MARKER = "__voxgate_test_stub__"


def _module(name: str) -> types.ModuleType:
    """A module with a real spec: `importlib.util.find_spec` (used by transformers'
    availability checks) raises ValueError on a module whose `__spec__` is None."""
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    setattr(module, STUB_MARKER, True)
    return module


def _unavailable(what: str):
    def fail(*_args: object, **_kwargs: object) -> NoReturn:
        raise RuntimeError(f"test stub: {what} is unavailable (only the 25 Hz tokenizer uses it)")

    return fail


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except Exception:
        return False
    return True


def _drop(prefix: str) -> None:
    for key in [k for k in sys.modules if k == prefix or k.startswith(prefix + ".")]:
        del sys.modules[key]


def install() -> list[str]:
    """Install stand-ins for whichever of torchaudio/sox cannot be imported.

    Returns the names of the modules that were stubbed (empty when the real ones exist).
    Idempotent. `transformers` is imported first so that it records torchaudio as
    unavailable and never tries to use the stand-in for real audio work.
    """
    import transformers  # noqa: F401  (side effect: availability flags computed before stubbing)

    stubbed: list[str] = []
    if not _importable("torchaudio.compliance.kaldi"):
        _drop("torchaudio")
        torchaudio = _module("torchaudio")
        compliance = _module("torchaudio.compliance")
        kaldi = _module("torchaudio.compliance.kaldi")
        kaldi.fbank = _unavailable("torchaudio.compliance.kaldi.fbank")  # type: ignore[attr-defined]
        compliance.kaldi = kaldi  # type: ignore[attr-defined]
        torchaudio.compliance = compliance  # type: ignore[attr-defined]
        sys.modules.update(
            {
                "torchaudio": torchaudio,
                "torchaudio.compliance": compliance,
                "torchaudio.compliance.kaldi": kaldi,
            }
        )
        stubbed.append("torchaudio")
    if not _importable("sox"):
        _drop("sox")
        sox = _module("sox")
        sox.Transformer = _unavailable("sox.Transformer")  # type: ignore[attr-defined]
        sys.modules["sox"] = sox
        stubbed.append("sox")
    return stubbed


def is_stub(module: types.ModuleType) -> bool:
    """True for a module this shim created (lets tests prove the product never needs it)."""
    return bool(getattr(module, STUB_MARKER, False))
