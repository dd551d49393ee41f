"""Voice cloning with a Qwen3-TTS Base checkpoint, through the same batched runtime.

- The prefill is bit-identical to what qwen-tts's own `generate_voice_clone`
  feeds the talker, in x-vector-only and ICL modes.
- With greedy decoding, the runtime's codes equal `generate_voice_clone`'s.
- `create_voice_clone_prompt` runs once per reference (content hash), and a
  voices folder keeps voices across a restart.
- A Base model refuses CustomVoice speaker names clearly, and vice versa.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.qwen.clone_support import voice_like
from tests.qwen.runtime_support import Recorder
from tts_core import InvalidRequest, SynthesisRequest
from tts_core.engine import float_to_int16
from tts_core.qwen import QwenEngine
from tts_core.qwen.internals import generate_clone

GREEDY = {"do_sample": False, "subtalker_dosample": False}
TRANSCRIPT = "Hello, this is my voice."


@pytest.fixture(scope="module")
def base(
    tiny_qwen_base_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[QwenEngine]:
    voices = tmp_path_factory.mktemp("voices")
    engine = QwenEngine(str(tiny_qwen_base_dir), device="cpu", slots=4, generate_kwargs=GREEDY,
                        voices_dir=str(voices), max_frames=16)  # fmt: skip
    engine.load()
    yield engine
    engine.unload()


def prefill_of_generate(tts: Any, clone: Any, text: str, language: str) -> Any:
    """The embeddings qwen-tts's own generate() hands the talker at prefill."""
    seen: list[Any] = []

    def grab(_module: Any, _args: Any, kw: dict[str, Any]) -> None:
        embeds = kw.get("inputs_embeds")
        if embeds is not None and embeds.shape[1] > 1:
            seen.append(embeds.detach().clone())

    handle = tts.model.talker.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        generate_clone(tts, text, language, clone, max_new_tokens=2)
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize("transcript", [None, TRANSCRIPT], ids=["x_vector", "icl"])
@pytest.mark.parametrize("language", ["english", "auto"])
def test_the_clone_prompt_is_the_one_generate_builds(base, transcript, language) -> None:
    voice, _ = base.clone_voice(voice_like(), 24000, transcript)
    assert voice.mode == ("icl" if transcript else "x_vector")
    clone = base.clones.prompt(voice.id)
    model = base._runtime.model
    text = "Your table for four is ready."
    expected = prefill_of_generate(base._tts, clone, text, language)
    ids = model.tokenize(text)
    ref_ids = model.tokenize_ref(transcript) if transcript else None
    with torch.inference_mode():
        built = model.build_clone_prompt(ids, language, clone, ref_ids)
    assert built.shape == expected.shape
    assert torch.equal(built, expected)
    assert model.clone_prompt_length(ids, language, clone, ref_ids) == built.shape[1]


def codes_of_generate(tts: Any, clone: Any, text: str, budget: int) -> Any:
    captured: list[Any] = []
    real = tts.model.speech_tokenizer.decode

    def grab(items: Any) -> Any:
        captured.append(items[0]["audio_codes"].clone())
        return real(items)

    tts.model.speech_tokenizer.decode = grab
    try:
        with torch.inference_mode():
            generate_clone(tts, text, "english", clone, max_new_tokens=budget, **GREEDY)
    finally:
        tts.model.speech_tokenizer.decode = real
    return captured[0]


@pytest.mark.parametrize("transcript", [None, TRANSCRIPT], ids=["x_vector", "icl"])
def test_greedy_codes_equal_generate_voice_clone(base, transcript) -> None:
    voice, _ = base.clone_voice(voice_like(pitch=180.0), 24000, transcript)
    clone = base.clones.prompt(voice.id)
    text, budget = "Thank you for calling.", 14
    expected = codes_of_generate(base._tts, clone, text, budget)
    if clone.icl:  # generate_voice_clone decodes the reference frames first, then ours
        expected = expected[clone.ref_code.shape[0] :]
    rec = Recorder(base)
    rec.submit("a", text, budget=budget, speaker=voice.id, clone=clone)
    rec.run()
    assert rec.codes["a"].shape == expected.shape == (budget - 1, 16)
    assert torch.equal(rec.codes["a"], expected)


def test_a_reference_is_made_into_a_voice_once(base, monkeypatch) -> None:
    calls = []
    real = base._tts.create_voice_clone_prompt
    monkeypatch.setattr(base._tts, "create_voice_clone_prompt",
                        lambda *a, **k: calls.append(1) or real(*a, **k))  # fmt: skip
    wav = voice_like(pitch=210.0)
    first, new = base.clone_voice(wav, 24000, TRANSCRIPT, "agent")
    again, new_again = base.clone_voice(wav.copy(), 24000, TRANSCRIPT, "other name")
    assert (new, new_again) == (True, False) and again == first and len(calls) == 1
    other, _ = base.clone_voice(wav, 24000, None)  # another transcript: another voice
    assert other.id != first.id and len(calls) == 2


def test_voices_survive_a_restart_and_speak_through_the_runtime(base) -> None:
    voice, _ = base.clone_voice(voice_like(pitch=95.0), 24000, TRANSCRIPT, "kept")
    request = SynthesisRequest("Goodbye now.", voice.id, "english")
    before = np.concatenate(list(base.synthesize(request)))
    restarted = QwenEngine(base.model_id, device="cpu", slots=2, generate_kwargs=GREEDY,
                           voices_dir=base.voices_dir, max_frames=16)  # fmt: skip
    restarted.load()
    try:
        assert voice.id in [v.name for v in restarted.voices()]
        after = np.concatenate(list(restarted.synthesize(request)))
    finally:
        restarted.unload()
    assert len(before) > 0 and np.array_equal(before, after)
    assert base.delete_voice(voice.id) and voice.id not in [v.name for v in base.voices()]


def test_a_base_model_refuses_customvoice_speakers_clearly(base) -> None:
    with pytest.raises(InvalidRequest, match=r"CustomVoice speaker.*Base checkpoint") as caught:
        base.resolve("ryan", "english")
    assert caught.value.field == "voice"
    with pytest.raises(InvalidRequest, match="registered voices"):
        base.resolve("clone-0000000000000000", "english")


def test_a_customvoice_model_refuses_to_clone(qwen_engine) -> None:
    with pytest.raises(InvalidRequest, match="needs a Qwen3-TTS Base checkpoint"):
        qwen_engine.clone_voice(voice_like(), 24000)
    with pytest.raises(InvalidRequest, match="unknown voice"):
        qwen_engine.resolve("clone-0123456789abcdef", "english")


def test_icl_audio_is_decoded_after_the_reference_as_generate_voice_clone_does(base) -> None:
    """qwen-tts decodes the reference frames in front of the generated ones and cuts their
    audio; the streaming decoder takes them as left context, so the audio matches too."""
    voice, _ = base.clone_voice(voice_like(pitch=130.0), 24000, TRANSCRIPT)
    clone = base.clones.prompt(voice.id)
    text, budget = "Thank you for calling.", 30
    with torch.inference_mode():
        wavs, _ = generate_clone(base._tts, text, "english", clone, max_new_tokens=budget, **GREEDY)
    expected = float_to_int16(np.asarray(wavs[0], dtype=np.float32))
    rec = Recorder(base)
    rec.submit("a", text, budget=budget, speaker=voice.id, clone=clone)
    rec.run()
    got = rec.received["a"].audio
    assert len(rec.received["a"].chunks) > 1  # streamed, not decoded at the end
    assert got.size == expected.size
    error = np.abs(got.astype(np.int32) - expected.astype(np.int32)).max()
    assert error <= 4, f"streamed clone audio differs from generate_voice_clone's by {error} LSB"
