"""Per-slot sampling against Hugging Face's own logits processors.

The runtime must sample as `qwen-tts` does (repetition penalty, minimum length,
suppressed control ids; temperature, top-k, top-p), so each step is compared
with the transformers processors `generate` uses, on random logits; and its
counter-based noise must give exact samples of the warped distribution.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.generation.logits_process import (
    MinNewTokensLengthLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from tts_core.qwen import sampling
from tts_core.qwen.sampling import SamplingConfig

VOCAB, EOS = 3072, 2150


def test_talker_processing_equals_generates_processors() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, VOCAB, generator=gen) * 3
    history = torch.randint(0, 2048, (4, 7), generator=gen)  # tokens each row produced
    steps = torch.tensor([0, 1, 2, 7])
    seen = torch.zeros(4, VOCAB, dtype=torch.bool).scatter(1, history, True)
    suppressed = sampling.talker_mask(torch, VOCAB, EOS, 1024, "cpu")
    ours = sampling.process_talker(
        torch, logits, seen, steps, penalty=1.05, eos=EOS, min_new_tokens=2,
        suppressed=suppressed,
    )  # fmt: skip
    suppress = [i for i in range(VOCAB - 1024, VOCAB) if i != EOS]
    for row in range(4):
        ids = history[row : row + 1]  # the penalty sees every token the row produced
        expected = logits[row : row + 1]
        expected = RepetitionPenaltyLogitsProcessor(1.05)(ids, expected)
        length = torch.zeros(1, int(steps[row]), dtype=torch.long)
        expected = MinNewTokensLengthLogitsProcessor(0, 2, EOS)(length, expected)
        expected = SuppressTokensLogitsProcessor(suppress)(ids, expected)
        assert torch.equal(ours[row : row + 1], expected), f"row {row}"
    assert torch.isinf(ours[0, EOS]) and torch.isinf(ours[1, EOS]) and not torch.isinf(ours[2, EOS])


def test_greedy_is_the_argmax_of_the_processed_logits() -> None:
    logits = torch.randn(3, 50)
    chosen = sampling.choose(torch, logits, None, do_sample=False, temperature=0.9,
                             top_k=5, top_p=0.5)  # fmt: skip
    assert torch.equal(chosen, logits.argmax(-1))


@pytest.mark.parametrize(("temperature", "top_k", "top_p"), [(0.9, 5, 1.0), (0.7, 0, 0.8),
                                                             (1.0, 8, 0.6)])  # fmt: skip
def test_samples_follow_the_warped_distribution(temperature: float, top_k: int, top_p: float):
    """20,000 draws (counters 0..19999) against softmax of HF's warped scores."""
    logits = torch.tensor([[2.0, 1.5, 1.4, 1.0, 0.5, 0.2, -0.3, -1.0, -2.0, -3.0, 0.0, 0.1]])
    warped = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_k:
        warped = TopKLogitsWarper(top_k)(None, warped)
    if top_p < 1:
        warped = TopPLogitsWarper(top_p)(None, warped)
    expected = torch.softmax(warped, -1)[0].numpy()
    draws = 20_000
    rows = logits.expand(draws, -1)
    seeds = torch.full((draws,), 12345, dtype=torch.long)
    counters = torch.arange(draws)

    def draw(ids: torch.Tensor) -> torch.Tensor:
        return sampling.gumbel_noise(torch, seeds, counters, ids)

    chosen = sampling.choose(torch, rows, draw, do_sample=True, temperature=temperature,
                             top_k=top_k, top_p=top_p)  # fmt: skip
    freq = np.bincount(chosen.numpy(), minlength=logits.shape[1]) / draws
    assert np.all(freq[expected == 0] == 0), "a filtered-out token was drawn"
    assert np.abs(freq - expected).max() < 0.015, (freq.round(3), expected.round(3))


def test_a_rows_noise_depends_only_on_its_seed_counter_and_token() -> None:
    seeds, counters = torch.tensor([7, 7, 8]), torch.tensor([3, 3, 3])
    ids = torch.tensor([[5, 9, 11], [11, 2, 5], [5, 9, 11]])
    noise = sampling.gumbel_noise(torch, seeds, counters, ids)
    assert noise[0, 0] == noise[1, 2] and noise[0, 2] == noise[1, 0]  # same token, same noise
    assert noise[0, 0] != noise[2, 0]  # another seed
    groups = sampling.gumbel_noise(torch, seeds[:1], torch.tensor([[3, 4]]), ids[:1, None, :])
    assert torch.equal(groups[0, 0], noise[0]) and not torch.equal(groups[0, 1], noise[0])
    # Uniform underneath: Gumbel(0, 1) has mean 0.5772 and variance pi^2/6.
    big = sampling.gumbel_noise(torch, torch.tensor([1]), torch.tensor([0]),
                                torch.arange(200_000)[None])  # fmt: skip
    assert abs(big.mean().item() - 0.5772) < 0.01 and abs(big.var().item() - 1.6449) < 0.03


def test_settings_merge_like_qwen_tts() -> None:
    checkpoint = {"temperature": 0.7, "top_k": 30, "max_new_tokens": 8192}
    merged = SamplingConfig.merged(checkpoint, {"top_k": 10, "do_sample": None})
    assert (merged.temperature, merged.top_k, merged.do_sample) == (0.7, 10, True)
    assert merged.repetition_penalty == 1.05 and merged.subtalker_top_k == 50
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig.merged({}, {"top_p": 0})
