"""Per-slot sampling for the talker and the code predictor, as `qwen-tts` samples.

The logits pass through what Hugging Face `generate` applies for these models, in
its order: repetition penalty over the codebook-0 tokens the row has produced,
end-of-speech forbidden for the first `MIN_NEW_TOKENS` tokens, the codec's control
ids suppressed; then, when sampling, temperature, top-k and top-p. With sampling
off the choice is the argmax of the processed logits, exactly as `generate`'s
greedy path. The defaults are `qwen-tts`'s merged with the checkpoint's
`generate_config.json`, so an unconfigured gateway sounds like the package.

The random draw differs on purpose. `generate` calls `torch.multinomial` on one
global generator, so a request's audio depends on who else is in the batch and
on the order requests arrive. Here each row draws Gumbel noise from a
counter-based hash of (its seed, its token index, the vocabulary index): the
same seed gives the same audio alone or in a batch of 64, any step can be
replayed, and nothing in the step reads host state, which a CUDA graph needs.
Gumbel-max over the filtered logits is an exact sample from their softmax.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

_M32 = 0xFFFFFFFF


@dataclass(frozen=True)
class SamplingConfig:
    do_sample: bool = True
    top_k: int = 50
    top_p: float = 1.0
    temperature: float = 0.9
    repetition_penalty: float = 1.05
    subtalker_dosample: bool = True
    subtalker_top_k: int = 50
    subtalker_top_p: float = 1.0
    subtalker_temperature: float = 0.9

    @classmethod
    def merged(cls, checkpoint: dict[str, Any], overrides: dict[str, Any]) -> SamplingConfig:
        """Explicit settings first, then the checkpoint's generate_config.json, then
        the package defaults (the rule of `Qwen3TTSModel._merge_generate_kwargs`)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if overrides.get(f.name) is not None:
                values[f.name] = overrides[f.name]
            elif checkpoint.get(f.name) is not None:
                values[f.name] = checkpoint[f.name]
        config = cls(**values)
        for name in ("temperature", "subtalker_temperature"):
            if getattr(config, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("top_p", "subtalker_top_p"):
            if not 0 < getattr(config, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1]")
        if config.repetition_penalty <= 0:
            raise ValueError("repetition_penalty must be > 0")
        return config


# -- the noise -----------------------------------------------------------------


def _mul32(x: Any, constant: int) -> Any:
    """(x * constant) mod 2**32 for int64 tensors holding 32-bit values, without
    overflowing int64 (the constant is applied in two 16-bit halves)."""
    lo, hi = constant & 0xFFFF, constant >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _M32


def _mix(x: Any) -> Any:
    """A 32-bit integer finaliser (Wellons' lowbias32)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def gumbel_noise(torch: Any, seeds: Any, counters: Any, ids: Any) -> Any:
    """Gumbel(0, 1) noise for vocabulary `ids`, depending only on (seed, counter, id).

    `seeds` and `counters` are [B] (one draw per row) or counters [B, G] (G draws
    per row); `ids` broadcasts against them with a trailing vocabulary axis. Keyed
    by the token id, not its rank, the noise a token gets never depends on which
    other tokens survived filtering.
    """
    if counters.dim() == 2:
        seeds = seeds[:, None]
    base = _mix((seeds & _M32) ^ _mul32(counters & _M32, 0x9E3779B9))
    bits = _mix(_mix(base[..., None] ^ _mul32(ids + 1, 0x85EBCA6B)))
    uniform = ((bits >> 8).to(torch.float32) + 0.5) * (1.0 / (1 << 24))
    return -torch.log(-torch.log(uniform))


# -- the logits ----------------------------------------------------------------


def talker_mask(torch: Any, vocab: int, eos: int, suppressed_top: int, device: Any) -> Any:
    """The ids `generate` suppresses for the talker: the last `suppressed_top` codec
    ids (control tokens) except end-of-speech."""
    mask = torch.zeros(vocab, dtype=torch.bool, device=device)
    mask[vocab - suppressed_top :] = True
    mask[eos] = False
    return mask


def process_talker(
    torch: Any,
    logits: Any,
    seen: Any,
    steps: Any,
    *,
    penalty: float,
    eos: int,
    min_new_tokens: int,
    suppressed: Any,
) -> Any:
    """Repetition penalty, minimum length and suppression, in `generate`'s order."""
    if penalty != 1.0:
        penalised = torch.where(logits < 0, logits * penalty, logits / penalty)
        logits = torch.where(seen, penalised, logits)
    early = (steps < min_new_tokens)[:, None]
    is_eos = torch.zeros_like(suppressed)
    is_eos[eos] = True
    logits = logits.masked_fill(early & is_eos[None, :], float("-inf"))
    return logits.masked_fill(suppressed[None, :], float("-inf"))


def choose(
    torch: Any,
    logits: Any,
    draw: Any,
    *,
    do_sample: bool,
    temperature: float,
    top_k: int,
    top_p: float,
) -> Any:
    """One token per row: argmax (greedy) or a sample from the warped distribution.

    `draw(ids)` returns the rows' Gumbel noise for vocabulary ids `ids` (see
    `gumbel_noise`). With top-k on, only the k survivors are drawn for: the
    Gumbel-max over them is the same exact sample, at k/vocab of the cost.
    (torch.topk keeps exactly k; generate keeps ties at the k-th value too, which
    float logits of a real model practically never have.)
    """
    if not do_sample:
        return torch.argmax(logits, dim=-1)
    scores = logits / temperature if temperature != 1.0 else logits
    vocab = scores.shape[-1]
    if 0 < top_k < vocab:
        scores, ids = torch.topk(scores, top_k, dim=-1)  # descending
    else:
        ids = torch.arange(vocab, device=scores.device).expand_as(scores)
    if top_p < 1.0:
        ordered, order = torch.sort(scores, descending=False, dim=-1)
        cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative <= (1 - top_p)
        drop[..., -1:] = False  # keep at least one token, as generate does
        scores = scores.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    best = torch.argmax(scores + draw(ids), dim=-1, keepdim=True)
    return ids.gather(-1, best).squeeze(-1)
