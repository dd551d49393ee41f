"""The runner: executes a prefill for one request, and one batched decode step.

It decides nothing (which rows run, who joins and who leaves is the
scheduler's business) and owns no memory beyond a few per-slot registers; the
key/value cache and the codec frames belong to the cache manager.

One decode step, for rows [0, B), does for every row at once what `qwen-tts`'s
talker forward does for one request:

1. the code predictor turns the row's pending codebook-0 token and the talker's
   last state into the other 15 codes of that frame (its own 15 sub-steps,
   batched across rows), and the frame is stored in the row's slot;
2. the frame's 16 embeddings are summed (plus the text pad embedding) into the
   talker's next input, which runs at the row's own position against its slot's
   cache, masked to that row's length;
3. the next codebook-0 token is sampled per row.

Every input and output of the step lives in a fixed register, and the step reads
nothing from the host, so on CUDA the whole step can be captured once per batch
size and replayed (`graphs.py`). Rows that are not in use run on harmless values
(position 0, their own empty slot) and change nothing that matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import sampling
from .internals import MIN_NEW_TOKENS, SUPPRESSED_TOP_IDS, QwenModel
from .kv_cache import SlotCache
from .sampling import SamplingConfig

#: Counter stride per token in the noise stream: group 0 is the talker, 1-15 the predictor.
_COUNTER_STRIDE = 16


@dataclass
class Registers:
    """Per-slot state the step reads and writes in place (device tensors)."""

    token: Any  # [S] pending codebook-0 token
    hidden: Any  # [S, H] the talker's last (normed) state
    position: Any  # [S] next cache position
    steps: Any  # [S] codebook-0 tokens sampled so far
    active: Any  # [S] bool
    seen: Any  # [S, V] bool: tokens sampled so far (repetition penalty)
    seed: Any  # [S] 32-bit seeds
    rows: Any  # [S] arange, for indexing


class ModelRunner:
    def __init__(
        self, model: QwenModel, cache: SlotCache, config: SamplingConfig, torch: Any
    ) -> None:
        self.model, self.cache, self.config, self.torch = model, cache, config, torch
        shape = model.shape
        device, slots = model.device, cache.slots
        long = torch.long
        self.regs = Registers(
            token=torch.zeros(slots, dtype=long, device=device),
            hidden=torch.zeros(slots, shape.hidden, dtype=model.dtype, device=device),
            position=torch.zeros(slots, dtype=long, device=device),
            steps=torch.zeros(slots, dtype=long, device=device),
            active=torch.zeros(slots, dtype=torch.bool, device=device),
            seen=torch.zeros(slots, shape.codec_vocab, dtype=torch.bool, device=device),
            seed=torch.zeros(slots, dtype=long, device=device),
            rows=torch.arange(slots, dtype=long, device=device),
        )
        self.suppressed = sampling.talker_mask(
            torch, shape.codec_vocab, shape.codec_eos, SUPPRESSED_TOP_IDS, device
        )

    # -- sampling helpers ---------------------------------------------------------

    def _sample_token(self, logits: Any, rows: slice | Any) -> Any:
        r, c, torch = self.regs, self.config, self.torch
        processed = sampling.process_talker(
            torch, logits, r.seen[rows], r.steps[rows],
            penalty=c.repetition_penalty, eos=self.model.shape.codec_eos,
            min_new_tokens=MIN_NEW_TOKENS, suppressed=self.suppressed,
        )  # fmt: skip
        seeds, counters = r.seed[rows], r.steps[rows] * _COUNTER_STRIDE

        def draw(ids: Any) -> Any:
            return sampling.gumbel_noise(torch, seeds, counters, ids)

        return sampling.choose(
            torch, processed, draw, do_sample=c.do_sample,
            temperature=c.temperature, top_k=c.top_k, top_p=c.top_p,
        )  # fmt: skip

    def _sample_code(self, logits: Any, batch: int, group: int) -> Any:
        r, c, torch = self.regs, self.config, self.torch
        seeds = r.seed[:batch]
        # The frame being completed belongs to token `steps - 1`.
        counters = (r.steps[:batch] - 1) * _COUNTER_STRIDE + group

        def draw(ids: Any) -> Any:
            return sampling.gumbel_noise(torch, seeds, counters, ids)

        return sampling.choose(
            torch, logits, draw, do_sample=c.subtalker_dosample,
            temperature=c.subtalker_temperature, top_k=c.subtalker_top_k,
            top_p=c.subtalker_top_p,
        )  # fmt: skip

    # -- prefill ------------------------------------------------------------------

    def prefill(self, slot: int, prompt: Any, seed: int) -> None:
        """Run one request's prompt into `slot` and sample its first token."""
        torch, r, m = self.torch, self.regs, self.model
        length = prompt.shape[1]
        positions = torch.arange(length, device=m.device, dtype=torch.long)[None]
        view = self.cache.prefill_view(slot, length)
        hidden = m.talker_forward(prompt, positions, view, mask=None)
        last = hidden[:, -1]
        s = slice(slot, slot + 1)
        r.seen[s] = False
        r.steps[s] = 0
        r.seed[s] = seed & 0xFFFFFFFF
        token = self._sample_token(m.codec_logits(last), s)
        r.token[s] = token
        r.hidden[s] = last
        r.position[s] = length
        r.steps[s] = 1
        r.seen[s] = r.seen[s].scatter(1, token[:, None], True)
        r.active[s] = True

    def release(self, slot: int) -> None:
        self.regs.active[slot] = False

    # -- one decode step ------------------------------------------------------------

    def decode(self, batch: int, attend: int) -> None:
        """One step for rows [0, batch): complete each pending frame, store it, advance
        the talker and sample the next token. Results stay in the registers and the
        slot's codes; `attend` must exceed every active row's position."""
        torch, r, m, cache = self.torch, self.regs, self.model, self.cache
        b = slice(0, batch)
        active = r.active[b]
        token = r.token[b]
        first = m.codec_embed(token)  # [B, 1, H]

        # 1. the code predictor, 15 sub-steps batched over the rows
        view = cache.predictor_view(batch)
        inputs = torch.cat((r.hidden[b][:, None], first), dim=1)
        at = torch.zeros(batch, 2, dtype=torch.long, device=m.device)
        at[:, 1] = 1
        h = m.predictor_forward(inputs, at, view.at(0))
        codes = [self._sample_code(m.predictor_logits(h[:, -1], 0), batch, 1)]
        groups = m.shape.code_groups
        embeds = [first]  # every code's embedding, the talker's next input (step 2)
        for g in range(1, groups - 1):
            pos = torch.full((batch, 1), g + 1, dtype=torch.long, device=m.device)
            embeds.append(m.predictor_embed(codes[-1], g - 1))
            h = m.predictor_forward(embeds[-1], pos, view.at(g + 1))
            codes.append(self._sample_code(m.predictor_logits(h[:, -1], g), batch, g + 1))
        embeds.append(m.predictor_embed(codes[-1], groups - 2))
        rest = torch.stack(codes, dim=1)  # [B, 15]
        frame = torch.cat((token[:, None], rest), dim=1)
        index = torch.where(active, r.steps[b] - 1, 0)
        cache.codes[r.rows[b], index] = frame

        # 2. the talker at each row's own position
        step_in = torch.cat(embeds, dim=1).sum(1, keepdim=True) + m.tts_pad
        position = torch.where(active, r.position[b], 0)
        span = torch.arange(attend, device=m.device)
        mask = (span[None, :] <= position[:, None])[:, None, None, :]  # [B, 1, 1, attend]
        view_t = cache.decode_view(r.rows[b], position, attend)
        hidden = m.talker_forward(step_in, position[:, None], view_t, mask=mask)
        last = hidden[:, -1]

        # 3. the next token
        new = self._sample_token(m.codec_logits(last), b)
        r.hidden[b] = torch.where(active[:, None], last, r.hidden[b])
        r.token[b] = torch.where(active, new, token)
        r.position[b] += active.long()
        r.steps[b] += active.long()
        seen = r.seen[b]
        r.seen[b] = seen.scatter(1, new[:, None], seen.gather(1, new[:, None]) | active[:, None])
