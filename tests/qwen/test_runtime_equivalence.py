"""The batched runtime computes what qwen-tts computes, and a batch changes nothing.

- The prompt is bit-identical to the one `generate_custom_voice` feeds the talker.
- With greedy decoding, a request's codes equal those of `generate_custom_voice`
  for every frame and every codebook.
- In a batch of 8, with requests joining while others run and neighbours
  finishing early, each request's codes equal its codes alone, greedy or
  sampled with a fixed seed (the noise depends only on the seed and position).

On this CPU the batched matrix products round exactly as the single-row ones
(float32, same kernels), so equality is exact; on a GPU in bf16 a near-tie could
flip, which is why the sampling noise never depends on the batch either.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.qwen.runtime_support import TEXTS, Recorder
from tests.qwen.tiny_checkpoint import build_tiny_checkpoint
from tts_core.qwen import QwenEngine
from tts_core.qwen.internals import QwenModel

GREEDY = {"do_sample": False, "subtalker_dosample": False}


@pytest.fixture(scope="module")
def greedy(tiny_qwen_dir: Path) -> Iterator[QwenEngine]:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", slots=8, generate_kwargs=GREEDY)
    engine.load()
    yield engine
    engine.unload()


@pytest.fixture(scope="module")
def sampled(tiny_qwen_dir: Path) -> Iterator[QwenEngine]:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", slots=8)
    engine.load()
    yield engine
    engine.unload()


def prefill_of_generate(tts: Any, **kwargs: Any) -> Any:
    """The embeddings qwen-tts's own generate() hands the talker at prefill."""
    seen: list[Any] = []

    def grab(_module: Any, _args: Any, kw: dict[str, Any]) -> None:
        embeds = kw.get("inputs_embeds")
        if embeds is not None and embeds.shape[1] > 1:
            seen.append(embeds.detach().clone())

    handle = tts.model.talker.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        tts.generate_custom_voice(max_new_tokens=2, **kwargs)
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize(
    ("speaker", "language"),
    [("ryan", "english"), ("vivian", "auto"), ("eric", "chinese"), ("dylan", "auto"),
     ("sohee", "korean")],
)  # fmt: skip
def test_the_prompt_is_the_one_generate_builds(
    greedy: QwenEngine, speaker: str, language: str
) -> None:
    """Dialect speakers switch the language tag, "auto" drops it: all as qwen-tts does."""
    tts = greedy._tts
    model = greedy._runtime.model
    text = "Your table for four is ready, Mr. Chen."
    expected = prefill_of_generate(tts, text=text, speaker=speaker, language=language)
    ids = model.tokenize(text)
    with torch.inference_mode():
        built = model.build_prompt(ids, speaker, language)
    assert built.shape == expected.shape
    assert torch.equal(built, expected)
    assert model.prompt_length(ids, speaker, language) == built.shape[1]


def test_an_instruction_is_prepended_as_generate_does(tmp_path: Path) -> None:
    """Checkpoints above 0.6B honour `instruct`; the prompt carries it first."""
    folder = build_tiny_checkpoint(tmp_path / "tiny-1b7", size="1b7")
    engine = QwenEngine(str(folder), device="cpu", slots=2)
    engine.load()
    try:
        tts, model = engine._tts, engine._runtime.model
        assert model.takes_instruct
        instruct = "Speak slowly and warmly."
        expected = prefill_of_generate(
            tts, text="Hello there.", speaker="ryan", language="english", instruct=instruct
        )
        ids, extra = model.tokenize("Hello there."), model.tokenize_instruct(instruct)
        with torch.inference_mode():
            built = model.build_prompt(ids, "ryan", "english", extra)
        assert torch.equal(built, expected)
        assert model.prompt_length(ids, "ryan", "english", extra) == built.shape[1]
    finally:
        engine.unload()


def codes_of_generate(tts: Any, text: str, budget: int) -> Any:
    captured: list[Any] = []
    real = tts.model.speech_tokenizer.decode

    def grab(items: Any) -> Any:
        captured.append(items[0]["audio_codes"].clone())
        return real(items)

    tts.model.speech_tokenizer.decode = grab
    try:
        with torch.inference_mode():
            tts.generate_custom_voice(
                text=text, speaker="ryan", language="english", max_new_tokens=budget, **GREEDY
            )
    finally:
        tts.model.speech_tokenizer.decode = real
    return captured[0]


@pytest.mark.parametrize("index", [0, 2, 7])
def test_greedy_codes_equal_generate_custom_voice(greedy: QwenEngine, index: int) -> None:
    text, budget = TEXTS[index], 24
    expected = codes_of_generate(greedy._tts, text, budget)
    rec = Recorder(greedy)
    rec.submit("a", text, budget=budget)
    rec.run()
    assert rec.codes["a"].shape == expected.shape == (budget - 1, 16)
    assert torch.equal(rec.codes["a"], expected)


BUDGETS = [40, 12, 30, 25, 40, 8, 35, 20]  # neighbours finish at different steps


def alone_and_batched(engine: QwenEngine) -> tuple[dict[int, Any], dict[int, Any], Recorder]:
    alone = {}
    for i, text in enumerate(TEXTS):
        rec = Recorder(engine)
        rec.submit(i, text, budget=BUDGETS[i], seed=100 + i)
        rec.run()
        alone[i] = rec.codes[i]
    rec = Recorder(engine)
    for i, text in enumerate(TEXTS):
        rec.submit(i, text, budget=BUDGETS[i], seed=100 + i)
        rec.step(3)  # each joins while the earlier ones are mid-sentence
    rec.run()
    return alone, rec.codes, rec


@pytest.mark.parametrize("kind", ["greedy", "sampled"])
def test_in_a_batch_of_8_each_request_gets_its_codes_alone(
    kind: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(kind)
    alone, batched, rec = alone_and_batched(engine)
    for i in range(len(TEXTS)):
        assert batched[i].shape[0] <= BUDGETS[i] - 1  # the budget, or an end token sampled
        assert torch.equal(batched[i], alone[i]), f"request {i} differs in a batch"
    # Not a trivial comparison: the requests speak differently (with random weights
    # greedy decoding can coincide for two texts; seeded sampling never does).
    distinct = len({bytes(c[:7].numpy()) for c in alone.values()})
    assert distinct >= (len(TEXTS) if kind == "sampled" else 2), distinct
    stats = engine.stats()
    assert stats is not None and stats.batch_size.count > 0
    assert max(b for b, n in zip((*stats.batch_size.buckets, 999), stats.batch_size.counts,
                                 strict=True) if n) >= 8  # fmt: skip
    assert rec.runtime.cache.free_slots == rec.runtime.slots


def test_a_seed_decides_the_sampled_audio(sampled: QwenEngine) -> None:
    rec = Recorder(sampled)
    for tag, seed in (("a", 1), ("b", 1), ("c", 2)):
        rec.submit(tag, TEXTS[0], budget=20, seed=seed)
    rec.run()
    assert torch.equal(rec.codes["a"], rec.codes["b"])
    assert not torch.equal(rec.codes["a"], rec.codes["c"])


def test_check_internals_fails_loudly_when_qwen_tts_changes(
    greedy: QwenEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tts_core.qwen import internals

    tts = greedy._tts
    QwenModel(tts, torch)  # the pinned version passes
    monkeypatch.setattr(internals, "installed_version", lambda: "0.2.0")
    with pytest.raises(internals.InternalsChanged, match=r"qwen-tts==0\.1\.1"):
        QwenModel(tts, torch)
    monkeypatch.setattr(internals, "installed_version", lambda: "0.1.1")
    monkeypatch.delattr(tts.model.talker, "codec_head")
    with pytest.raises(internals.InternalsChanged, match="codec_head"):
        QwenModel(tts, torch)
