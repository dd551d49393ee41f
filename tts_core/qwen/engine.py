"""The Qwen3-TTS engine: CustomVoice speakers, many calls from one decode loop (SPEC §2).

Why it looks like this: `qwen-tts` and `torch` are an optional extra
(`voxgate[qwen]`), so they are imported inside `load()` and `import tts_core`
works without them. The default runtime (`batched`) owns the decode loop:
every admitted sentence gets a slot of a preallocated cache, all slots advance
together one codec frame per step, and each streams its audio as it is decoded
(runtime.py). `stock` calls `generate_custom_voice` one sentence at a time, for
comparison. Every sentence gets an adaptive token budget (tts_core.budget),
because a runaway generation otherwise runs to minutes of audio.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import queue
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tts_core import budget
from tts_core.cuda import cuda_available, enable_tf32, release_cuda_memory
from tts_core.engine import (
    EngineError,
    EngineUnavailable,
    InvalidRequest,
    Resolved,
    Sink,
    StreamEnd,
    SynthesisRequest,
    Voice,
    float_to_int16,
)

from .clones import BaseCatalogue, ClonedVoice, CloneStore, register_voice
from .streaming import ChunkPolicy
from .voices import Catalogue, checkpoint_kind

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice"
INSTALL_HINT = "install it with: pip install 'voxgate[qwen]'"
SAMPLE_RATE = 24000
RUNTIMES = ("batched", "stock")
DTYPES = {
    "bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16",
    "half": "float16", "float32": "float32", "fp32": "float32", "float": "float32",
}  # fmt: skip


class QwenEngine:
    """Qwen3-TTS CustomVoice, 24 kHz int16 out, streamed in chunks as it is decoded."""

    name = "qwen"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        device: str | None = None,
        dtype: str | None = None,
        attn_implementation: str | None = None,
        default_speaker: str | None = None,
        seed: int | None = None,
        generate_kwargs: dict[str, Any] | None = None,
        token_budget: Callable[[str, str | None], int] = budget.max_new_tokens,
        *,
        runtime: str = "batched",
        slots: int | None = None,
        max_len: int = 1024,
        streaming: bool = True,
        first_chunk_frames: int = 3,
        chunk_frames: int = 8,
        context_frames: int = 72,
        max_prefills: int = 4,
        cuda_graphs: bool | None = None,
        max_frames: int | None = None,
        cpu_threads: int | None = 1,
        voices_dir: str | None = None,
    ) -> None:
        """`device`, `dtype` and `attn_implementation` default to the best the host
        offers (resolved at `load()`); `seed` makes every sentence reproducible, which
        keeps cached and fresh audio identical; `generate_kwargs` are qwen-tts's
        sampling settings (e.g. `do_sample=False`); `token_budget` sizes each
        sentence's budget from its text.

        The batched runtime holds `slots` sentences at once (64 on CUDA, 8 on a CPU),
        each at most `max_len` prompt tokens plus codec frames. With `streaming` the
        first audio leaves after `first_chunk_frames` codec frames (80 ms each), then
        every `chunk_frames`, each decoded with `context_frames` of left context.
        `max_frames` caps any sentence's codec frames below its adaptive budget (a hard
        ceiling for operators; benchmarks of random weights, which never end, use it
        to fix each request's length). On a CPU, `cpu_threads` sets torch's intra-op
        threads (process-wide; None leaves torch's default). `voices_dir` keeps a Base
        checkpoint's cloned voices across restarts (clones.py)."""
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
        if dtype is not None and dtype.lower() not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(set(DTYPES.values()))}")
        self.policy = ChunkPolicy(first_chunk_frames, chunk_frames, context_frames, streaming)
        if max_prefills < 1:
            raise ValueError("max_prefills must be >= 1")
        self.model_id = model
        self._device = device
        self._dtype = dtype
        self._attn = attn_implementation
        self._default_speaker = default_speaker.lower() if default_speaker else None
        self.seed = seed
        self.generate_kwargs = dict(generate_kwargs or {})
        self.token_budget = token_budget
        self.runtime_kind = runtime
        on_cuda = (device or ("cuda" if cuda_available() else "cpu")).startswith("cuda")
        self.slots = slots if slots is not None else (64 if on_cuda else 8)
        if self.slots < 1:
            raise ValueError("slots must be >= 1")
        self.max_len = max_len
        self.max_prefills = max_prefills
        self.cuda_graphs = cuda_graphs
        if max_frames is not None and max_frames < 1:
            raise ValueError("max_frames must be >= 1")
        self.max_frames = max_frames
        self.cpu_threads = cpu_threads
        self._tts: Any = None
        self._torch: Any = None
        self._runtime: Any = None
        self._graphed = False
        self._catalogue: Catalogue | BaseCatalogue | None = None
        self.voices_dir = voices_dir
        self._clones: CloneStore | None = None
        self.kind: str | None = None  # custom_voice or base, once known
        self._sample_rate = SAMPLE_RATE
        self.resolved: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def loaded(self) -> bool:
        return self._tts is not None

    @property
    def concurrency(self) -> int:
        """Sentences served at once: one per slot for the batched runtime."""
        return self.slots if self.runtime_kind == "batched" else 1

    def load(self) -> None:
        """Load weights onto the device; every failure becomes `EngineUnavailable`."""
        if self._tts is not None:
            return
        try:
            torch = importlib.import_module("torch")
            qwen_tts = importlib.import_module("qwen_tts")
        except ImportError as exc:
            raise EngineUnavailable(
                f"the qwen engine needs qwen-tts and torch ({exc}); {INSTALL_HINT}"
            ) from exc
        except Exception as exc:  # a broken install (e.g. a missing transitive import)
            raise EngineUnavailable(f"qwen-tts failed to import: {exc!r}; {INSTALL_HINT}") from exc

        device = self._device or ("cuda:0" if cuda_available() else "cpu")
        on_cuda = device.startswith("cuda")
        dtype_name = (
            DTYPES[self._dtype.lower()] if self._dtype else ("bfloat16" if on_cuda else "float32")
        )
        attn = self._attn or (
            "flash_attention_2"
            if self.runtime_kind == "stock" and on_cuda and importlib.util.find_spec("flash_attn")
            else "sdpa"
        )
        enable_tf32()  # process-wide; a no-op without CUDA
        if not on_cuda and self.cpu_threads:
            # The decode loop's ops are small: extra OpenMP workers spin-wait and take the
            # cores from the event loop (measured on 2 shared cores: 16 sentences in 2.3 s
            # with one thread, 40-82 s and 64-144 ms loop stalls with two).
            torch.set_num_threads(self.cpu_threads)
        started = time.perf_counter()
        try:
            tts = qwen_tts.Qwen3TTSModel.from_pretrained(
                self.model_id,
                device_map=device,
                dtype=getattr(torch, dtype_name),
                attn_implementation=attn,
            )
            speakers = tuple(sorted(s.lower() for s in tts.get_supported_speakers() or ()))
            languages = tuple(sorted(lang.lower() for lang in tts.get_supported_languages() or ()))
            rate = int(tts.model.speech_tokenizer.get_output_sample_rate())
        except Exception as exc:
            raise EngineUnavailable(
                f"could not load Qwen3-TTS model {self.model_id!r} on {device}: {exc}"
            ) from exc
        kind = getattr(tts.model, "tts_model_type", None)
        if not ((kind == "custom_voice" and speakers) or kind == "base"):
            raise EngineUnavailable(
                f"{self.model_id!r} is not a Qwen3-TTS CustomVoice or Base model "
                "(the qwen engine speaks named speakers or cloned voices)"
            )
        if (
            kind == "custom_voice"
            and self._default_speaker
            and self._default_speaker not in speakers
        ):
            raise EngineUnavailable(
                f"default speaker {self._default_speaker!r} is not offered "
                f"by {self.model_id!r}; choose one of {list(speakers)}"
            )
        runtime = None
        if self.runtime_kind == "batched":
            runtime = self._build_runtime(tts, torch, on_cuda)
        self._tts, self._torch, self._runtime = tts, torch, runtime
        self.kind = kind
        self._catalogue = (
            BaseCatalogue(self.clones, languages, self._default_speaker)
            if kind == "base"
            else Catalogue(speakers, languages, self._default_speaker)
        )
        self._sample_rate = rate
        self.resolved = {
            "device": device, "dtype": dtype_name, "attn_implementation": attn,
            "runtime": self.runtime_kind,
        }  # fmt: skip
        if runtime is not None:
            self.resolved.update(runtime.memory(), cuda_graphs=self._graphed)
        log.info(
            "qwen engine loaded %s in %.1f s (%s)",
            self.model_id, time.perf_counter() - started, self.resolved,
        )  # fmt: skip

    def _build_runtime(self, tts: Any, torch: Any, on_cuda: bool) -> Any:
        from .graphs import GraphedDecode
        from .internals import QwenModel
        from .runtime import BatchedRuntime
        from .sampling import SamplingConfig

        try:
            model = QwenModel(tts, torch)
            sampling = SamplingConfig.merged(model.generation_defaults(), self.generate_kwargs)
            runtime = BatchedRuntime(
                model, slots=self.slots, max_len=self.max_len, policy=self.policy,
                sampling=sampling, max_prefills=self.max_prefills,
            )  # fmt: skip
        except Exception as exc:
            raise EngineUnavailable(f"could not start the batched Qwen runtime: {exc}") from exc
        self._graphed = False
        if on_cuda and self.cuda_graphs is not False:
            graphs = GraphedDecode(
                torch, runtime.runner.decode, slots=self.slots, max_len=self.max_len
            )
            try:
                graphs.capture()
                runtime.use_decoder(graphs)
                self._graphed = True
            except Exception as exc:  # a driver or kernel that cannot be captured
                if self.cuda_graphs:
                    raise EngineUnavailable(f"CUDA graph capture failed: {exc}") from exc
                log.warning("qwen: CUDA graph capture failed (%s); decoding eagerly", exc)
        return runtime

    def unload(self) -> None:
        """Drop the model and hand its GPU memory back (SPEC §3 idle unload)."""
        if self._tts is None:
            return
        if self._runtime is not None:
            self._runtime.close(EngineUnavailable("the qwen engine was unloaded"))
        self._tts = self._runtime = None
        gc.collect()
        release_cuda_memory()
        log.info("qwen engine unloaded %s", self.model_id)

    # ------------------------------------------------------------------ voices

    @property
    def catalogue(self) -> Catalogue | BaseCatalogue:
        if self._catalogue is None:
            found = Catalogue.from_checkpoint(self.model_id, self._default_speaker)
            if checkpoint_kind(self.model_id) == "base":
                self.kind = "base"
                self._catalogue = BaseCatalogue(self.clones, found.languages, self._default_speaker)
            else:
                self._catalogue = found
        return self._catalogue

    @property
    def clones(self) -> CloneStore:
        """The cloned voices (kept across unloads: they belong to the deployment)."""
        if self._clones is None:
            self._clones = CloneStore(self.voices_dir)
        return self._clones

    @property
    def is_base(self) -> bool:
        return self.kind == "base" or isinstance(self.catalogue, BaseCatalogue)

    def clone_voice(
        self,
        wav: np.ndarray,
        sample_rate: int,
        transcript: str | None = None,
        name: str | None = None,
    ) -> tuple[ClonedVoice, bool]:
        """Register a voice from reference audio (mono float32); runs qwen-tts's
        `create_voice_clone_prompt` unless the same reference is already registered.
        Returns the voice and whether it is new. On the inference thread only."""
        if self._tts is None:
            raise EngineError("the qwen engine is not loaded")
        if not self.is_base:
            raise InvalidRequest(
                f"{self.model_id!r} is a CustomVoice checkpoint: voice cloning needs a "
                "Qwen3-TTS Base checkpoint (e.g. Qwen/Qwen3-TTS-12Hz-0.6B-Base)", field="audio",
            )  # fmt: skip
        return register_voice(self.clones, self._tts, self._torch, wav, sample_rate,
                              transcript, name)  # fmt: skip

    def delete_voice(self, voice_id: str) -> bool:
        return self.clones.remove(voice_id)

    def voices(self) -> list[Voice]:
        return self.catalogue.voices()

    def default_voice(self) -> str:
        return self.catalogue.default_voice()

    def resolve(self, voice: str | None, language: str | None, speed: float = 1.0) -> Resolved:
        return self.catalogue.resolve(voice, language, speed)

    def resolve_voice(self, voice: str | None) -> str:
        return self.catalogue.resolve_voice(voice)

    def resolve_language(self, language: str | None) -> str:
        return self.catalogue.resolve_language(language)

    def stats(self) -> Any:
        """A snapshot of the batched runtime's figures (None when not loaded or stock)."""
        runtime = self._runtime
        return runtime.stats.snapshot() if runtime is not None else None

    # ------------------------------------------------------------------ batched

    def _budget(self, text: str, language: str) -> int:
        tokens = self.token_budget(text, language)
        return tokens if self.max_frames is None else min(tokens, self.max_frames + 1)

    def _seed(self, request: SynthesisRequest) -> int:
        seed = request.extra.get("seed", self.seed)
        return int(seed) if seed is not None else random.getrandbits(32)

    def submit(self, request: SynthesisRequest, sink: Sink) -> Any:
        """Queue one sentence on the decode loop (event loop side: cheap, validates)."""
        resolved = self.resolve(request.voice, request.language, request.speed)
        runtime = self._runtime
        if runtime is None:
            raise EngineError("the qwen engine is not loaded")
        text = request.text.strip()
        if not text:
            sink(StreamEnd("empty"))
            return None
        clone = self.clones.prompt(resolved.voice) if self.is_base else None
        return runtime.submit(
            text, resolved.voice, resolved.language,
            budget_tokens=self._budget(text, resolved.language),
            seed=self._seed(request), sink=sink, instruct=request.extra.get("instruct"),
            clone=clone,
        )  # fmt: skip

    def cancel(self, ticket: Any) -> None:
        if ticket is not None and self._runtime is not None:
            self._runtime.cancel(ticket)

    def has_work(self) -> bool:
        return self._runtime is not None and self._runtime.has_work()

    def run_until_idle(self) -> None:
        if self._runtime is not None:
            self._runtime.run_until_idle()

    # ------------------------------------------------------------------ one caller

    def synthesize(self, request: SynthesisRequest) -> Iterator[np.ndarray]:
        """Speak one sentence on the caller's thread (the CLI, tests). Validation
        happens here, before the generator starts. The speech core does not use
        this for the batched runtime: it submits, and runs the loop on its thread."""
        resolved = self.resolve(request.voice, request.language, request.speed)
        if self._tts is None:
            raise EngineError("the qwen engine is not loaded")
        if self.runtime_kind == "stock":
            return self._generate(request.text.strip(), resolved.voice, resolved.language)
        out: queue.SimpleQueue[object] = queue.SimpleQueue()
        ticket = self.submit(request, out.put)
        return self._runtime.drive(ticket, out)

    def _generate(self, text: str, speaker: str, language: str) -> Iterator[np.ndarray]:
        """The stock path: `generate_custom_voice`, one whole sentence at a time."""
        if not text:
            return
        kwargs = {**self.generate_kwargs, "max_new_tokens": self._budget(text, language)}
        try:
            with self._torch.inference_mode():
                if self.seed is not None:
                    self._torch.manual_seed(self.seed)
                if self.is_base:
                    from .internals import generate_clone

                    clone = self.clones.prompt(speaker)
                    wavs, rate = generate_clone(self._tts, text, language, clone, **kwargs)
                else:
                    wavs, rate = self._tts.generate_custom_voice(
                        text=text, speaker=speaker, language=language, **kwargs
                    )
        except Exception as exc:
            raise EngineError(f"qwen synthesis failed: {exc}") from exc
        if int(rate) != self._sample_rate:
            raise EngineError(f"model returned {rate} Hz audio, expected {self._sample_rate} Hz")
        yield float_to_int16(np.asarray(wavs[0], dtype=np.float32).reshape(-1))
