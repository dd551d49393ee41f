"""tts_core.cuda: TF32 flags and CUDA memory release follow `torch.cuda.is_available()`.

CUDA is simulated by patching `torch.cuda.is_available` (and the release calls), so
these run on the CPU-only CI machine instead of being skipped there.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import torch

from tts_core import cuda


@pytest.fixture
def tf32_off() -> Iterator[None]:
    """Start from both flags off and restore the process-wide values after.

    Saved and restored by hand: the flags live behind torch's module `__getattr__`,
    and pytest's monkeypatch (9.2+) would try to delete them on undo.
    """
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    matmul.allow_tf32 = cudnn.allow_tf32 = False
    yield
    matmul.allow_tf32, cudnn.allow_tf32 = saved


@pytest.fixture
def release_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("empty_cache"))
    monkeypatch.setattr(torch.cuda, "ipc_collect", lambda: calls.append("ipc_collect"))
    return calls


@pytest.mark.usefixtures("tf32_off")
def test_tf32_is_enabled_when_cuda_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cuda.enable_tf32() is True
    assert torch.backends.cuda.matmul.allow_tf32 is True
    assert torch.backends.cudnn.allow_tf32 is True


@pytest.mark.usefixtures("tf32_off")
def test_tf32_is_left_alone_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cuda.enable_tf32() is False
    assert torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.backends.cudnn.allow_tf32 is False


def test_release_empties_the_cache_and_collects_ipc_handles_on_cuda(
    monkeypatch: pytest.MonkeyPatch, release_calls: list[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cuda.release_cuda_memory() is True
    assert release_calls == ["empty_cache", "ipc_collect"]


def test_release_does_nothing_without_cuda(
    monkeypatch: pytest.MonkeyPatch, release_calls: list[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cuda.release_cuda_memory() is False
    assert cuda.cuda_available() is False
    assert release_calls == []


@pytest.mark.usefixtures("tf32_off")
def test_everything_is_a_no_op_when_torch_is_not_installed(
    monkeypatch: pytest.MonkeyPatch, release_calls: list[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    assert cuda.cuda_available() is False
    assert cuda.enable_tf32() is False
    assert cuda.release_cuda_memory() is False
    assert release_calls == []
    assert torch.backends.cuda.matmul.allow_tf32 is False
