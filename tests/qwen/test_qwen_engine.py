"""QwenEngine against a real (tiny, random) Qwen3-TTS checkpoint loaded through qwen-tts.

Behaviour every caller relies on is checked on both runtimes: the batched decode
loop (the default) and the stock `generate_custom_voice` path. Most tests inject a
small token budget: the random model rarely emits its end token, so it runs to the
cap, and each codec step costs milliseconds on a CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import qwen_tts
import torch

import tts_core.qwen.engine as qwen_engine_module
from tests.qwen.tiny_checkpoint import SAMPLES_PER_FRAME, SPEAKER_IDS
from tests.support import torchaudio_shim
from tts_core import budget
from tts_core.engine import (
    Engine,
    EngineError,
    EngineUnavailable,
    InvalidRequest,
    SynthesisRequest,
)
from tts_core.qwen import QwenEngine

SMALL = 6  # max_new_tokens for most tests: at most 5 frames = 0.4 s


def small_budget(_text: str, _language: str | None) -> int:
    return SMALL


class Spy:
    """Wraps a callable and records every call; `rewrite` overrides keyword arguments."""

    def __init__(self, fn: Any, **rewrite: Any) -> None:
        self.fn, self.rewrite = fn, rewrite
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, dict(kwargs)))
        return self.fn(*args, **{**kwargs, **self.rewrite})


@pytest.fixture(scope="module")
def stock_engine(tiny_qwen_dir: Path) -> Any:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", seed=1234, runtime="stock")
    engine.load()
    yield engine
    engine.unload()


@pytest.fixture(params=["batched", "stock"])
def engine(
    request: pytest.FixtureRequest, qwen_engine: QwenEngine, monkeypatch: pytest.MonkeyPatch
) -> QwenEngine:
    chosen = qwen_engine if request.param == "batched" else request.getfixturevalue("stock_engine")
    monkeypatch.setattr(chosen, "token_budget", small_budget)
    return chosen


def model_calls(engine: QwenEngine, monkeypatch: pytest.MonkeyPatch, **rewrite: Any) -> Spy:
    """Record what reaches the model: generate_custom_voice (stock) or the decode loop's
    queue (batched), as keyword arguments (text, speaker, language, budget)."""
    if engine.runtime_kind == "stock":
        spy = Spy(engine._tts.generate_custom_voice, **rewrite)
        monkeypatch.setattr(engine._tts, "generate_custom_voice", spy)
        return spy
    runtime = engine._runtime
    real = runtime.submit

    def submit(text: str, speaker: str, language: str, **kw: Any) -> Any:
        return real(text, speaker, language, **{**kw, **rewrite})

    spy = Spy(submit)
    monkeypatch.setattr(runtime, "submit", spy)
    return spy


def called_with(spy: Spy) -> dict[str, Any]:
    args, kwargs = spy.calls[0]
    named = dict(zip(("text", "speaker", "language"), args, strict=False)) | kwargs
    if "budget_tokens" in named:
        named["max_new_tokens"] = named["budget_tokens"]
    return named


def speak(engine: QwenEngine, text: str = "Hello there.", **kw: Any) -> list[np.ndarray]:
    return list(engine.synthesize(SynthesisRequest(text=text, **kw)))


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


# ---------------------------------------------------------------------- load and speak


def test_loads_through_from_pretrained_and_speaks_24k_int16(engine: QwenEngine) -> None:
    assert isinstance(engine, Engine)
    assert isinstance(engine._tts, qwen_tts.Qwen3TTSModel)
    assert engine.resolved["device"] == "cpu" and engine.resolved["dtype"] == "float32"
    assert engine.resolved["attn_implementation"] == "sdpa"
    assert engine.resolved["runtime"] == engine.runtime_kind
    assert next(engine._tts.model.parameters()).dtype == torch.float32
    assert engine.sample_rate == 24000 and engine.name == "qwen"

    chunks = speak(engine, "Hello there, this is a test.", voice="ryan", language="english")

    audio = np.concatenate(chunks)
    assert audio.dtype == np.int16 and audio.ndim == 1
    frames, rest = divmod(audio.size, SAMPLES_PER_FRAME)  # 80 ms per frame at 24 kHz
    assert rest == 0 and 1 <= frames <= SMALL - 1
    assert rms(audio) > 300, "the tiny model is initialised to make sound, not silence"
    assert len(np.unique(audio)) > 1000


def test_the_batched_runtime_streams_and_the_stock_one_does_not(
    qwen_engine: QwenEngine, stock_engine: QwenEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for engine in (qwen_engine, stock_engine):
        monkeypatch.setattr(engine, "token_budget", lambda _t, _l: 21)  # 20 frames
    batched = speak(qwen_engine, "Please hold.")
    stock = speak(stock_engine, "Please hold.")
    # 3 frames first, then chunks growing to 8 but never longer than what was sent
    assert [c.size // SAMPLES_PER_FRAME for c in batched] == [3, 3, 6, 8]
    assert [c.size // SAMPLES_PER_FRAME for c in stock] == [20]
    assert qwen_engine.concurrency == qwen_engine.slots == 8 and stock_engine.concurrency == 1


def test_seeded_engine_repeats_itself_exactly(engine: QwenEngine) -> None:
    """Same sentence, same seed: identical audio, so cached and fresh audio agree."""
    first = speak(engine, "Your table is ready.", voice="vivian")[0]
    second = speak(engine, "Your table is ready.", voice="vivian")[0]
    other_voice = speak(engine, "Your table is ready.", voice="serena")[0]
    assert np.array_equal(first, second)
    assert not np.array_equal(first[: other_voice.size], other_voice[: first.size])


def test_voices_and_languages_come_from_the_model(engine: QwenEngine) -> None:
    voices = engine.voices()
    assert sorted(v.name for v in voices) == sorted(SPEAKER_IDS)
    ryan = next(v for v in voices if v.name == "ryan")
    assert set(ryan.languages) == {
        "auto", "chinese", "english", "japanese", "korean", "german",
        "french", "russian", "portuguese", "spanish", "italian",
    }  # fmt: skip
    assert not any("dialect" in lang for lang in ryan.languages)
    assert ryan.default_language == "auto"
    assert engine.default_voice() == "ryan"


@pytest.mark.parametrize(
    ("voice", "language", "speaker", "model_language"),
    [
        ("RYAN", "English", "ryan", "english"),
        (None, None, "ryan", "auto"),
        ("Ono_Anna", "auto", "ono_anna", "auto"),
        ("sohee", "ko-KR", "sohee", "korean"),
        ("eric", "zh", "eric", "chinese"),
        (" Vivian ", "ja_JP", "vivian", "japanese"),
    ],
)
def test_names_are_resolved_case_insensitively(
    engine: QwenEngine, voice: str | None, language: str | None, speaker: str, model_language: str
) -> None:
    assert engine.resolve_voice(voice) == speaker
    assert engine.resolve_language(language) == model_language
    resolved = engine.resolve(voice, language)
    assert (resolved.voice, resolved.language) == (speaker, model_language)


@pytest.mark.parametrize(
    ("language", "locale"),
    [("en", "en"), ("en-GB", "en-GB"), ("English", "en"), ("auto", None), (None, None)],
)
def test_the_resolver_keeps_the_client_locale(
    engine: QwenEngine, language: str | None, locale: str | None
) -> None:
    # "en" is accepted by the session now: the session and the engine share one resolver.
    assert engine.resolve("ryan", language).locale == locale


def test_the_model_gets_the_resolved_names(
    engine: QwenEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = model_calls(engine, monkeypatch)
    audio = np.concatenate(speak(engine, "Okay.", voice="Sohee", language="ko"))
    assert 0 < audio.size <= (SMALL - 1) * SAMPLES_PER_FRAME
    got = called_with(calls)
    assert (got["text"], got["speaker"], got["language"]) == ("Okay.", "sohee", "korean")


# ---------------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    ("request_kw", "field", "named"),
    [
        ({"voice": "darth_vader"}, "voice", "darth_vader"),
        ({"language": "klingon"}, "language", "klingon"),
        ({"voice": "ryan", "language": "xx-YY"}, "language", "xx-YY"),
        ({"speed": 1.5}, "speed", "speed"),
    ],
)
def test_bad_requests_are_rejected_before_any_generation(
    engine: QwenEngine,
    monkeypatch: pytest.MonkeyPatch,
    request_kw: dict[str, Any],
    field: str,
    named: str,
) -> None:
    calls = model_calls(engine, monkeypatch)
    with pytest.raises(InvalidRequest) as info:
        engine.synthesize(SynthesisRequest(text="Hello.", **request_kw))
    assert info.value.field == field
    assert named in str(info.value)
    assert info.value.code == "invalid_request"
    assert calls.calls == []


def test_unknown_voice_error_lists_the_choices(engine: QwenEngine) -> None:
    with pytest.raises(InvalidRequest, match="vivian"):
        engine.synthesize(SynthesisRequest(text="Hello.", voice="nobody"))


def test_a_generation_failure_is_an_engine_error_and_the_engine_survives(
    engine: QwenEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: Any, **_kw: Any) -> Any:
        raise RuntimeError("CUDA error: device-side assert triggered")

    with monkeypatch.context() as patch:
        if engine.runtime_kind == "stock":
            patch.setattr(engine._tts, "generate_custom_voice", boom)
        else:
            patch.setattr(engine._runtime, "_decode", boom)
        with pytest.raises(EngineError, match="device-side assert") as info:
            speak(engine)
        assert not isinstance(info.value, InvalidRequest)
    assert engine.loaded
    assert rms(speak(engine)[0]) > 300


def test_blank_text_yields_no_audio_and_runs_no_model(
    engine: QwenEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = model_calls(engine, monkeypatch)
    assert speak(engine, "   \n") == []
    assert calls.calls == []


# ---------------------------------------------------------------------- token budget


def test_the_adaptive_budget_reaches_the_model_over_the_checkpoint_default(
    qwen_engine: QwenEngine, stock_engine: QwenEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's budget, not generation_config.json's 8192, is what the model gets."""
    text = "Thank you for calling the city library, how can I help you today?"
    for engine in (qwen_engine, stock_engine):
        assert engine.token_budget is budget.max_new_tokens
        assert engine._tts.generate_defaults["max_new_tokens"] == 8192
        if engine.runtime_kind == "stock":
            # Record what reaches the model's own generate(), then run it with a small cap.
            calls = Spy(engine._tts.model.generate, max_new_tokens=4)
            monkeypatch.setattr(engine._tts.model, "generate", calls)
        else:
            calls = model_calls(engine, monkeypatch, budget_tokens=4)
        audio = np.concatenate(speak(engine, text, language="english"))
        asked = called_with(calls)["max_new_tokens"]
        assert asked == budget.max_new_tokens(text, "english")
        assert 128 <= asked < 2048
        assert audio.size <= 3 * SAMPLES_PER_FRAME


@pytest.mark.parametrize("cap", [3, 7])
def test_audio_never_exceeds_the_budget(
    engine: QwenEngine, monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    """max_new_tokens=N allows at most N-1 frames of 80 ms."""
    monkeypatch.setattr(engine, "token_budget", lambda _t, _l: cap)
    text = "A much longer sentence than the budget could ever hold."
    audio = np.concatenate(speak(engine, text))
    assert 0 < audio.size <= (cap - 1) * SAMPLES_PER_FRAME
    assert audio.size / engine.sample_rate <= budget.max_audio_seconds(cap)


# ---------------------------------------------------------------------- lifecycle


def test_unload_drops_the_model_and_releases_cuda_memory(
    tiny_qwen_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", token_budget=small_budget)
    engine.load()
    assert engine.loaded
    wrapper_ref = weakref.ref(engine._tts)
    model_ref = weakref.ref(engine._tts.model)
    released: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: released.append("empty_cache"))
    monkeypatch.setattr(torch.cuda, "ipc_collect", lambda: released.append("ipc_collect"))

    engine.unload()

    assert not engine.loaded
    assert wrapper_ref() is None and model_ref() is None, "the model must be garbage collected"
    assert released == ["empty_cache", "ipc_collect"]
    with pytest.raises(EngineError, match="not loaded"):
        engine.synthesize(SynthesisRequest(text="Hello."))
    engine.unload()  # idempotent: nothing more to release
    assert released == ["empty_cache", "ipc_collect"]
    monkeypatch.undo()
    engine.load()  # and it comes back
    assert rms(speak(engine)[0]) > 300
    engine.unload()


def test_load_enables_tf32(tiny_qwen_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load() asks for TF32; tests/test_cuda.py shows the flags follow CUDA availability."""
    calls: list[bool] = []
    real = qwen_engine_module.enable_tf32
    monkeypatch.setattr(qwen_engine_module, "enable_tf32", lambda: calls.append(real()) or False)
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu")
    engine.load()
    engine.unload()
    assert calls == [torch.cuda.is_available()]


def test_voices_are_listed_from_a_local_checkpoint_without_loading(tiny_qwen_dir: Path) -> None:
    engine = QwenEngine(str(tiny_qwen_dir))
    assert [v.name for v in engine.voices()] == sorted(SPEAKER_IDS)
    assert not engine.loaded
    with pytest.raises(InvalidRequest) as info:
        engine.synthesize(SynthesisRequest(text="Hi.", language="elvish"))
    assert info.value.field == "language"


def test_missing_qwen_tts_is_engine_unavailable_with_an_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "qwen_tts", None)  # makes `import qwen_tts` fail
    engine = QwenEngine("/nonexistent")
    with pytest.raises(EngineUnavailable, match=r"pip install 'voxgate\[qwen\]'"):
        engine.load()
    assert not engine.loaded


def test_a_folder_without_a_model_is_engine_unavailable(tmp_path: Path) -> None:
    engine = QwenEngine(str(tmp_path), device="cpu")
    with pytest.raises(EngineUnavailable, match=str(tmp_path)):
        engine.load()
    assert not engine.loaded


def test_an_unknown_default_speaker_is_refused_at_load(tiny_qwen_dir: Path) -> None:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", default_speaker="nobody")
    with pytest.raises(EngineUnavailable, match="nobody"):
        engine.load()
    assert not engine.loaded


def test_a_configured_default_speaker_is_used(
    tiny_qwen_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", default_speaker="Vivian",
                        token_budget=small_budget)  # fmt: skip
    engine.load()
    calls = model_calls(engine, monkeypatch)
    speak(engine)
    assert engine.default_voice() == "vivian"
    assert called_with(calls)["speaker"] == "vivian"
    engine.unload()


def test_a_voice_design_checkpoint_is_refused(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    """CustomVoice (named speakers) and Base (cloned voices) are served; VoiceDesign,
    which speaks from a description, is not."""
    base = tmp_path / "design"
    base.mkdir()
    for item in tiny_qwen_dir.iterdir():
        (base / item.name).symlink_to(item)
    (base / "config.json").unlink()
    config = json.loads((tiny_qwen_dir / "config.json").read_text())
    config["tts_model_type"] = "voice_design"
    (base / "config.json").write_text(json.dumps(config))
    with pytest.raises(EngineUnavailable, match="not a Qwen3-TTS CustomVoice or Base"):
        QwenEngine(str(base), device="cpu").load()


def test_the_product_does_not_depend_on_the_test_stubs() -> None:
    """The stand-ins exist only because this CPU environment lacks torchaudio/sox."""
    import tts_core.qwen as product

    for path in Path(product.__file__).parent.glob("*.py"):
        source = path.read_text()
        assert "torchaudio" not in source and "shim" not in source, path
    for name in ("torchaudio", "sox"):
        module = sys.modules.get(name)
        if module is not None and torchaudio_shim.is_stub(module):
            with pytest.raises(RuntimeError, match="test stub"):
                (module.compliance.kaldi.fbank if name == "torchaudio" else module.Transformer)()


def test_the_package_imports_and_lists_voices_without_torch() -> None:
    """torch and qwen-tts are an extra: importing the engine must not need them."""
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['qwen_tts'] = None\n"
        "from tts_core.qwen import QwenEngine\n"
        "e = QwenEngine()\n"
        "print(e.default_voice(), len(e.voices()), e.resolve_language('en'))\n"
        "try:\n    e.load()\nexcept Exception as exc:\n    print(type(exc).__name__)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True, timeout=60).stdout.split()  # fmt: skip
    assert out == ["ryan", "9", "english", "EngineUnavailable"]


def test_max_frames_caps_every_sentence_below_its_budget(
    engine: QwenEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "token_budget", lambda _t, _l: 40)
    monkeypatch.setattr(engine, "max_frames", 4)
    audio = np.concatenate(speak(engine, "A sentence that would run for forty frames."))
    assert audio.size == 4 * SAMPLES_PER_FRAME  # random weights never end early


def test_a_cpu_decode_loop_runs_one_intra_op_thread(tiny_qwen_dir: Path) -> None:
    """Extra OpenMP workers spin and starve the event loop on a small host (engine.py)."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        engine = QwenEngine(str(tiny_qwen_dir), device="cpu", slots=2)
        engine.load()
        assert torch.get_num_threads() == 1
        engine.unload()
        torch.set_num_threads(2)
        QwenEngine(str(tiny_qwen_dir), device="cpu", slots=2, cpu_threads=None).load()
        assert torch.get_num_threads() == 2  # None leaves torch's choice alone
    finally:
        torch.set_num_threads(before)
