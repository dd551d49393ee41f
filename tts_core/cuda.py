"""CUDA process-wide settings and memory release, shared by every torch-based engine.

Why a module of its own: both are process-global side effects the speech core relies
on (SPEC §3): TF32 matmuls speed up fp32 work on Ampere+ GPUs at no audible cost,
and after an idle unload the cached allocator must hand its blocks back so that
another process (or a reload of a different model) can use the GPU. Torch is
imported lazily so `import tts_core` works on a machine without it.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def _torch() -> ModuleType | None:
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def cuda_available() -> bool:
    """True when torch is importable and sees a CUDA device."""
    torch = _torch()
    return bool(torch is not None and torch.cuda.is_available())


def enable_tf32() -> bool:
    """Allow TF32 for CUDA matmuls and cuDNN convolutions; returns whether it did.

    A no-op without CUDA, so CPU runs keep exact fp32 semantics.
    """
    torch = _torch()
    if torch is None or not torch.cuda.is_available():
        return False
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return True


def release_cuda_memory() -> bool:
    """Return cached CUDA blocks to the driver and reclaim IPC handles; returns whether it did.

    Call it after the last reference to a model is dropped and `gc.collect()` ran,
    otherwise the tensors are still alive and nothing is freed.
    """
    torch = _torch()
    if torch is None or not torch.cuda.is_available():
        return False
    torch.cuda.empty_cache()
    torch.cuda.ipc_collect()
    return True
