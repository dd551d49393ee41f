"""The batched Qwen3-TTS runtime: one decode loop serving many requests.

It wires the three parts together, vLLM-style: the step scheduler decides who
joins and who leaves, the model runner executes prefills and batched decode
steps (replayed as CUDA graphs when captured), and the slot cache owns the
memory. One iteration of the loop (`step`) is:

    admit  -> cancelled requests leave, waiting ones are prefilled into slots
    decode -> one batched step for every running request
    stream -> due chunks of every request decoded together and delivered
    retire -> finished requests free their slots

`submit` and `cancel` are called from the event loop's thread and only touch a
locked inbox and a flag; everything else runs on the speech core's single
inference thread, which calls `run_until_idle` while there is work.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from tts_core.engine import EngineError, StreamEnd

from .internals import ClonePrompt, QwenModel
from .kv_cache import SlotCache
from .runner import ModelRunner
from .sampling import SamplingConfig
from .scheduler import Sequence, StepScheduler
from .stats import RuntimeStats
from .streaming import ChunkPolicy, decode_windows

log = logging.getLogger(__name__)

FRAME_S = 0.08  # one 12 Hz codec frame of audio


class RequestTooLong(EngineError):
    """A sentence whose prompt and token budget do not fit one slot."""


class BatchedRuntime:
    def __init__(
        self,
        model: QwenModel,
        *,
        slots: int,
        max_len: int,
        policy: ChunkPolicy,
        sampling: SamplingConfig,
        max_prefills: int = 4,
        decode: Callable[[int, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        torch = model.torch
        self.model = model
        self.torch = torch
        self.cache = SlotCache(
            torch, model.shape, slots=slots, max_len=max_len, dtype=model.dtype, device=model.device
        )
        self.runner = ModelRunner(model, self.cache, sampling, torch)
        self.scheduler = StepScheduler(self.cache, policy, max_prefills=max_prefills)
        self.policy = policy
        self._decode = decode or self.runner.decode
        self._clock = clock
        self._inbox: deque[Sequence] = deque()
        self._lock = threading.Lock()
        self.stats = RuntimeStats(slots=slots)

    @property
    def slots(self) -> int:
        return self.cache.slots

    def use_decoder(self, decode: Callable[[int, int], None]) -> None:
        """Replace the eager decode step (with a CUDA-graph replay, say)."""
        self._decode = decode

    # -- the event loop's side --------------------------------------------------

    def submit(
        self,
        text: str,
        speaker: str,
        language: str,
        *,
        budget_tokens: int,
        seed: int,
        sink: Callable[[object], None],
        instruct: str | None = None,
        clone: ClonePrompt | None = None,
    ) -> Sequence:
        """Queue one sentence; raises `RequestTooLong` if it cannot fit a slot.

        With `clone` (a Base checkpoint's voice) the sentence is spoken in that voice
        and `speaker` is only its name for the record."""
        m = self.model
        ids = m.tokenize(text)
        ref_ids = None
        if clone is not None:
            instruct_ids = None  # generate_voice_clone takes no instruction
            ref_ids = m.tokenize_ref(clone.ref_text) if clone.icl and clone.ref_text else None
            prompt_len = m.clone_prompt_length(ids, language, clone, ref_ids)
        else:
            instruct_ids = m.tokenize_instruct(instruct) if instruct and m.takes_instruct else None
            prompt_len = m.prompt_length(ids, speaker, language, instruct_ids)
        budget = max(1, budget_tokens - 1)  # generate yields max_new_tokens - 1 frames
        if prompt_len + budget + 1 > self.cache.max_len:
            raise RequestTooLong(
                f"sentence too long for one slot: {prompt_len} prompt tokens + {budget} frames "
                f"> {self.cache.max_len}; raise the slot length or cut the sentence"
            )
        seq = Sequence(
            ids=ids, speaker=speaker, language=language, budget=budget, seed=seed, sink=sink,
            instruct_ids=instruct_ids, prompt_len=prompt_len, submitted=self._clock(),
            clone=clone, ref_ids=ref_ids,
        )  # fmt: skip
        with self._lock:
            self._inbox.append(seq)
        return seq

    def cancel(self, seq: Sequence) -> None:
        """Stop `seq` at the next step (its sink still gets its StreamEnd)."""
        seq.cancelled = True

    def has_work(self) -> bool:
        with self._lock:
            if self._inbox:
                return True
        return not self.scheduler.idle

    # -- the inference thread's side -----------------------------------------------

    def drive(self, seq: Sequence | None, out: queue.SimpleQueue[object]) -> Iterator[Any]:
        """Run the loop on the caller's own thread until `seq` ends, yielding its chunks
        from `out` (its sink). For a single caller (the CLI, tests); closing the
        iterator early cancels `seq` and steps until the request has let go."""
        ended = seq is None
        try:
            while not ended:
                while out.empty():
                    self.step()
                item = out.get()
                if isinstance(item, StreamEnd | BaseException):
                    ended = True
                    if isinstance(item, BaseException):
                        raise item
                    return
                yield item
        finally:
            if not ended and seq is not None:
                self.cancel(seq)
                while True:
                    while out.empty() and self.has_work():
                        self.step()
                    if out.empty() or isinstance(out.get(), StreamEnd | BaseException):
                        break

    def run_until_idle(self) -> None:
        while self.step():
            pass

    def step(self) -> bool:
        """One iteration of the loop; returns whether work remains."""
        torch = self.torch
        with self._lock:
            while self._inbox:
                self.scheduler.add(self._inbox.popleft())
        try:
            with torch.inference_mode():
                self._iterate()
        except Exception as exc:  # a failed step loses every request in it, not the engine
            log.exception("qwen runtime step failed")
            self._fail_all(EngineError(f"qwen synthesis failed: {exc}"))
        sched = self.scheduler
        self.stats.active, self.stats.waiting = len(sched.running), len(sched.waiting)
        return self.has_work()

    def _iterate(self) -> None:
        sched, runner = self.scheduler, self.runner
        plan = sched.plan()
        for seq in plan.cancelled:
            if seq.slot >= 0:
                runner.release(seq.slot)
            self._end(seq, "cancelled")
        for seq in plan.prefill:
            self._prefill(seq)
        rows, attend = sched.batch()
        if rows:
            started = self._clock()
            self._decode(rows, attend)
            tokens = self.runner.regs.token[:rows].tolist()
            finished = sched.advance(tokens, self.model.shape.codec_eos)
            self._stream(finished)
            self.stats.step(len(sched.running), self._clock() - started)
            for seq in finished:
                runner.release(seq.slot)
                sched.retire(seq)
                self._end(seq, seq.reason)

    def _prefill(self, seq: Sequence) -> None:
        m = self.model
        try:
            if seq.clone is not None:
                prompt = m.build_clone_prompt(seq.ids, seq.language, seq.clone, seq.ref_ids)
            else:
                prompt = m.build_prompt(seq.ids, seq.speaker, seq.language, seq.instruct_ids)
            self.runner.prefill(seq.slot, prompt, seq.seed)
        except Exception as exc:
            log.exception("qwen prefill failed")
            self.runner.release(seq.slot)
            self.scheduler.retire(seq)
            self._deliver(seq, EngineError(f"qwen synthesis failed: {exc}"))
            return
        if seq.clone is not None and seq.clone.icl:  # leads every early chunk's decode
            seq.lead = seq.clone.ref_code.to(m.device)
        seq.position = prompt.shape[1]
        seq.started = self._clock()
        self.stats.prefills += 1

    def _stream(self, finished: list[Sequence]) -> None:
        due = self.scheduler.windows(finished)
        if not due:
            return
        chunks = decode_windows(self.model, self.cache.codes, [w for _, w in due])
        now = self._clock()
        for (seq, _), chunk in zip(due, chunks, strict=True):
            if not seq.first_audio:
                seq.first_audio = now
                self.stats.first_audio.observe(now - seq.submitted)
            self._deliver(seq, chunk)

    def _end(self, seq: Sequence, reason: str) -> None:
        seq.finished = self._clock()
        audio_s = seq.produced * FRAME_S
        rtf = (seq.finished - seq.started) / audio_s if audio_s and seq.started else None
        self.stats.finished(rtf, reason == "cancelled")
        self._deliver(seq, StreamEnd(reason))

    def _deliver(self, seq: Sequence, item: object) -> None:
        try:
            seq.sink(item)
        except Exception:  # a consumer's bug must not stop everyone else's audio
            log.exception("qwen runtime: a sink raised")

    def _fail_all(self, error: EngineError) -> None:
        for seq in self.scheduler.drain():
            if seq.slot >= 0:
                self.runner.release(seq.slot)
            self._deliver(seq, error)
        with self._lock:
            stranded = list(self._inbox)
            self._inbox.clear()
        for seq in stranded:
            self._deliver(seq, error)

    def close(self, error: EngineError) -> None:
        """Fail whatever is still queued or running (the engine is unloading)."""
        self._fail_all(error)

    def memory(self) -> dict[str, Any]:
        cache = self.cache
        return {"slots": cache.slots, "max_len": cache.max_len, "cache_bytes": cache.nbytes}
