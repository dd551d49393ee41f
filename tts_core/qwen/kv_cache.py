"""The cache manager: it owns the runtime's device memory and hands out slots.

Why preallocated slots: a phone gateway must know, when it starts, how many
calls one GPU holds, and must never grow its memory with traffic (a per-request
`DynamicCache` does, and fragments the allocator over a day of calls). So every
tensor the decode loop writes lives here, sized `slots × max_len` once: the
talker's keys and values per layer, the code predictor's per-step scratch cache,
and each slot's codec frames (what the streaming decoder reads back).

Slots are given lowest-index first. The batched step runs over rows `[0, B)`
with B just above the highest slot in use, so keeping the used slots packed at
the bottom keeps B (and the wasted rows) small without ever moving a cache.

The views below are what `qwen-tts`'s attention layers see as a cache: an
object with `update(key, value, layer_idx, kwargs)` that stores the new keys
and values where this step's rows belong and returns what they attend over.
"""

from __future__ import annotations

from typing import Any

from .internals import ModelShape

#: The code predictor sees its two inputs, then one new code per sub-step.
PREDICTOR_LEN_PAD = 2


class SlotsExhausted(RuntimeError):
    """No slot is free (the speech core admits at most `slots` requests at once)."""


class SlotCache:
    """Per-slot key/value memory for the talker and the code predictor."""

    def __init__(
        self, torch: Any, shape: ModelShape, *, slots: int, max_len: int, dtype: Any, device: Any
    ) -> None:
        if slots < 1 or max_len < 8:
            raise ValueError("a slot cache needs slots >= 1 and max_len >= 8")
        self.torch = torch
        self.slots = slots
        self.max_len = max_len
        kv = (slots, shape.talker_kv_heads, max_len, shape.talker_head_dim)
        n = shape.talker_layers
        self.keys = [torch.zeros(kv, dtype=dtype, device=device) for _ in range(n)]
        self.values = [torch.zeros(kv, dtype=dtype, device=device) for _ in range(n)]
        p_len = shape.code_groups + PREDICTOR_LEN_PAD
        pkv = (slots, shape.predictor_kv_heads, p_len, shape.predictor_head_dim)
        n_p = shape.predictor_layers
        self.p_keys = [torch.zeros(pkv, dtype=dtype, device=device) for _ in range(n_p)]
        self.p_values = [torch.zeros(pkv, dtype=dtype, device=device) for _ in range(n_p)]
        #: Every codec frame a slot has produced, for the streaming decoder.
        self.codes = torch.zeros(
            (slots, max_len, shape.code_groups), dtype=torch.long, device=device
        )
        self._free = list(range(slots))  # kept sorted: lowest first
        self.in_use: set[int] = set()

    # -- slots ------------------------------------------------------------

    def allocate(self) -> int:
        if not self._free:
            raise SlotsExhausted(f"all {self.slots} slots are in use")
        slot = self._free.pop(0)
        self.in_use.add(slot)
        return slot

    def free(self, slot: int) -> None:
        if slot not in self.in_use:
            return
        self.in_use.discard(slot)
        self._free.append(slot)
        self._free.sort()

    @property
    def free_slots(self) -> int:
        return len(self._free)

    @property
    def rows(self) -> int:
        """Rows a step must cover: one past the highest slot in use (0 when idle)."""
        return max(self.in_use) + 1 if self.in_use else 0

    @property
    def nbytes(self) -> int:
        tensors = [*self.keys, *self.values, *self.p_keys, *self.p_values, self.codes]
        return sum(t.numel() * t.element_size() for t in tensors)

    # -- views for the attention layers -----------------------------------

    def prefill_view(self, slot: int, length: int) -> PrefillView:
        if length > self.max_len:
            raise ValueError(f"a prompt of {length} tokens does not fit a {self.max_len} slot")
        return PrefillView(self, slot, length)

    def decode_view(self, rows: Any, positions: Any, attend: int) -> DecodeView:
        return DecodeView(self, rows, positions, attend)

    def predictor_view(self, batch: int) -> PredictorView:
        return PredictorView(self, batch)


class PrefillView:
    """One slot's prompt: keys for positions [0, T) of that slot."""

    def __init__(self, cache: SlotCache, slot: int, length: int) -> None:
        self.cache, self.slot, self.length = cache, slot, length

    def update(self, key: Any, value: Any, layer_idx: int, kwargs: Any = None) -> tuple[Any, Any]:
        k, v = self.cache.keys[layer_idx], self.cache.values[layer_idx]
        s, n = self.slot, self.length
        k[s, :, :n] = key[0]
        v[s, :, :n] = value[0]
        return k[s : s + 1, :, :n], v[s : s + 1, :, :n]


class DecodeView:
    """One new token for each row in [0, B), written at that row's own position; the
    rows attend over [0, attend) and the step's mask hides what lies past each one."""

    def __init__(self, cache: SlotCache, rows: Any, positions: Any, attend: int) -> None:
        self.cache, self.rows, self.positions, self.attend = cache, rows, positions, attend

    def update(self, key: Any, value: Any, layer_idx: int, kwargs: Any = None) -> tuple[Any, Any]:
        k, v = self.cache.keys[layer_idx], self.cache.values[layer_idx]
        b = key.shape[0]
        k[self.rows, :, self.positions] = key[:, :, 0]
        v[self.rows, :, self.positions] = value[:, :, 0]
        return k[:b, :, : self.attend], v[:b, :, : self.attend]


class PredictorView:
    """The code predictor's scratch cache for rows [0, B); every row is at the same
    position, which `at` sets before each sub-step."""

    def __init__(self, cache: SlotCache, batch: int) -> None:
        self.cache, self.batch, self.start = cache, batch, 0

    def at(self, start: int) -> PredictorView:
        self.start = start
        return self

    def update(self, key: Any, value: Any, layer_idx: int, kwargs: Any = None) -> tuple[Any, Any]:
        k, v = self.cache.p_keys[layer_idx], self.cache.p_values[layer_idx]
        b, end = self.batch, self.start + key.shape[2]
        k[:b, :, self.start : end] = key
        v[:b, :, self.start : end] = value
        return k[:b, :, :end], v[:b, :, :end]
