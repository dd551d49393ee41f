"""The step scheduler: between two decode steps, it decides who runs.

Continuous batching means the batch changes at every step: a request that hit
its end-of-speech token (or its token budget, or was cancelled by a barge-in)
gives its slot back at once, and a waiting request is prefilled into a free slot
and decodes with the others from the next step on. This module makes those
decisions and keeps the host-side picture of each request (how many frames,
where its cache ends, what has been turned into audio); it runs no model and
owns no device memory.

The order in which requests join is not decided here: the speech core admits
requests in its own order (earliest playout deadline, fair between tenants) and
never more than there are slots, so this queue is served first come, first
served, at most `max_prefills` per step so that a burst of new calls cannot
stall the ones already speaking for more than a few prefills.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .kv_cache import SlotCache
from .streaming import ChunkPolicy, Window, window


@dataclass(eq=False)
class Sequence:
    """One sentence being spoken: a request, its slot and its progress."""

    ids: Any  # prompt token ids [1, N]
    speaker: str
    language: str
    budget: int  # frames at most (max_new_tokens - 1, as generate counts them)
    seed: int
    sink: Callable[[object], None]
    instruct_ids: Any = None
    prompt_len: int = 0
    clone: Any = None  # a ClonePrompt: the voice of a Base checkpoint
    ref_ids: Any = None  # its transcript's token ids (ICL mode)
    lead: Any = None  # ICL: the reference's codec frames on the model's device, once
    slot: int = -1
    produced: int = 0  # frames completed
    emitted: int = 0  # frames turned into audio
    position: int = 0  # the slot's next cache position (host mirror)
    cancelled: bool = False  # set from the event loop's thread; read between steps
    reason: str = ""  # eos | budget | cancelled | error
    submitted: float = 0.0
    started: float = 0.0
    first_audio: float = 0.0
    finished: float = 0.0


@dataclass
class Plan:
    prefill: list[Sequence] = field(default_factory=list)
    cancelled: list[Sequence] = field(default_factory=list)


class StepScheduler:
    def __init__(self, cache: SlotCache, policy: ChunkPolicy, *, max_prefills: int = 4) -> None:
        if max_prefills < 1:
            raise ValueError("max_prefills must be >= 1")
        self.cache = cache
        self.policy = policy
        self.max_prefills = max_prefills
        self.waiting: deque[Sequence] = deque()
        self.running: dict[int, Sequence] = {}

    @property
    def idle(self) -> bool:
        return not self.waiting and not self.running

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def plan(self) -> Plan:
        """Cancelled requests leave; waiting ones take free slots, lowest first."""
        plan = Plan()
        for seq in list(self.running.values()):
            if seq.cancelled:
                seq.reason = "cancelled"
                plan.cancelled.append(seq)
                self.retire(seq)
        kept: deque[Sequence] = deque()
        while self.waiting:
            seq = self.waiting.popleft()
            if seq.cancelled:
                seq.reason = "cancelled"
                plan.cancelled.append(seq)
            elif len(plan.prefill) < self.max_prefills and self.cache.free_slots:
                seq.slot = self.cache.allocate()
                self.running[seq.slot] = seq
                plan.prefill.append(seq)
            else:
                kept.append(seq)
        self.waiting = kept
        return plan

    def batch(self) -> tuple[int, int]:
        """Rows the next step covers and how far they attend (0, 0 when none run)."""
        if not self.running:
            return 0, 0
        return self.cache.rows, max(s.position for s in self.running.values()) + 1

    def advance(self, tokens: list[int], eos: int) -> list[Sequence]:
        """Account for one decode step; returns the requests it finished."""
        done = []
        for slot, seq in self.running.items():
            seq.produced += 1
            seq.position += 1
            if tokens[slot] == eos:
                seq.reason = "eos"
            elif seq.produced >= seq.budget:
                seq.reason = "budget"
            else:
                continue
            done.append(seq)
        return done

    def windows(self, finished: list[Sequence]) -> list[tuple[Sequence, Window]]:
        """Audio due now: streaming chunks of running requests, and the rest of those
        finishing (still running until `retire`)."""
        closing = {id(s) for s in finished}
        due = []
        for seq in self.running.values():
            final = id(seq) in closing
            if self.policy.ready(seq.produced, seq.emitted, final):
                window_ = window(self.policy, seq.slot, seq.emitted, seq.produced, seq.lead)
                due.append((seq, window_))
                seq.emitted = seq.produced
        return due

    def retire(self, seq: Sequence) -> None:
        """Give the request's slot back (its frames stay readable until reused)."""
        if self.running.get(seq.slot) is seq:
            del self.running[seq.slot]
        self.cache.free(seq.slot)

    def drain(self) -> list[Sequence]:
        """Every request still known, removed (for a fatal error or an unload)."""
        everyone = [*self.running.values(), *self.waiting]
        for seq in list(self.running.values()):
            self.retire(seq)
        self.waiting.clear()
        return everyone
