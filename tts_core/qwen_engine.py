"""The Qwen3-TTS engine: CustomVoice speakers through the `qwen-tts` package (SPEC §2).

Why it looks like this: `qwen-tts` and `torch` are an optional extra
(`voxgate[qwen]`), so they are imported inside `load()` and `import tts_core`
works without them. Speakers and languages are whatever the loaded model reports,
validated here before any GPU work so that a typo becomes an `InvalidRequest`
naming the field rather than a ValueError from deep inside generation. Every call
gets an adaptive `max_new_tokens` (tts_core.budget) because a runaway generation
otherwise runs to the model's cap of minutes of audio.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tts_core import budget
from tts_core.cuda import cuda_available, enable_tf32, release_cuda_memory
from tts_core.engine import (
    EngineError,
    EngineUnavailable,
    InvalidRequest,
    Resolved,
    SynthesisRequest,
    Voice,
    float_to_int16,
    language_tag,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice"
INSTALL_HINT = "install it with: pip install 'voxgate[qwen]'"
SAMPLE_RATE = 24000

# What the released CustomVoice checkpoints report, used only to answer `voices()`
# before a hub model is loaded (a local folder is read from its config.json instead).
PUBLISHED_SPEAKERS = (
    "aiden", "dylan", "eric", "ono_anna", "ryan", "serena", "sohee", "uncle_fu", "vivian",
)  # fmt: skip
PUBLISHED_LANGUAGES = (
    "auto", "chinese", "english", "french", "german", "italian",
    "japanese", "korean", "portuguese", "russian", "spanish",
)  # fmt: skip
# Native language of the released speakers, for the voice description only.
SPEAKER_NATIVE = {
    "aiden": "english", "ryan": "english", "vivian": "chinese", "serena": "chinese",
    "uncle_fu": "chinese", "dylan": "chinese (Beijing)", "eric": "chinese (Sichuan)",
    "ono_anna": "japanese", "sohee": "korean",
}  # fmt: skip
# Preferred default speakers, in order, when none is configured (a phone gateway
# is most often used in English).
PREFERRED_DEFAULTS = ("ryan", "aiden", "vivian")
# ISO 639-1 codes clients commonly send, mapped to the model's language names.
ISO_LANGUAGES = {
    "zh": "chinese", "en": "english", "fr": "french", "de": "german", "it": "italian",
    "ja": "japanese", "ko": "korean", "pt": "portuguese", "ru": "russian", "es": "spanish",
}  # fmt: skip
DTYPES = {
    "bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16",
    "half": "float16", "float32": "float32", "fp32": "float32", "float": "float32",
}  # fmt: skip


class QwenEngine:
    """Qwen3-TTS CustomVoice, 24 kHz int16 out: one chunk per sentence, or several
    while it is generated when `streaming` is on."""

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
        streaming: bool = False,
        stream_chunk_frames: int = 8,
        stream_context_frames: int = 25,
    ) -> None:
        """`device`, `dtype` and `attn_implementation` default to the best the host
        offers (resolved at `load()`); `seed` makes every sentence reproducible, which
        keeps cached and fresh audio identical; `generate_kwargs` go to generation as is
        (e.g. `do_sample=False`); `token_budget` sizes `max_new_tokens` from the text.

        With `streaming`, audio comes out in chunks of `stream_chunk_frames` codec
        frames (80 ms each; the first chunk is half that, for a faster first sound)
        while the sentence is still being generated, each decoded with
        `stream_context_frames` frames of left context so chunk seams stay smooth."""
        if stream_chunk_frames < 1 or stream_context_frames < 0:
            raise ValueError("stream_chunk_frames must be >= 1 and stream_context_frames >= 0")
        if dtype is not None and dtype.lower() not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(set(DTYPES.values()))}")
        self.model_id = model
        self._device = device
        self._dtype = dtype
        self._attn = attn_implementation
        self._default_speaker = default_speaker.lower() if default_speaker else None
        self.seed = seed
        self.generate_kwargs = dict(generate_kwargs or {})
        self.token_budget = token_budget
        self.streaming = streaming
        self.stream_chunk_frames = stream_chunk_frames
        self.stream_context_frames = stream_context_frames
        self._tts: Any = None
        self._torch: Any = None
        self._speakers: tuple[str, ...] = ()
        self._languages: tuple[str, ...] = ()
        self._sample_rate = SAMPLE_RATE
        self.resolved: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def loaded(self) -> bool:
        return self._tts is not None

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
            "flash_attention_2" if on_cuda and importlib.util.find_spec("flash_attn") else "sdpa"
        )
        enable_tf32()  # process-wide; a no-op without CUDA
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
        if getattr(tts.model, "tts_model_type", None) != "custom_voice" or not speakers:
            raise EngineUnavailable(
                f"{self.model_id!r} is not a Qwen3-TTS CustomVoice model "
                "(the qwen engine speaks with the model's named speakers)"
            )
        if self._default_speaker and self._default_speaker not in speakers:
            raise EngineUnavailable(
                f"default speaker {self._default_speaker!r} is not offered "
                f"by {self.model_id!r}; choose one of {list(speakers)}"
            )
        self._tts, self._torch = tts, torch
        self._speakers, self._languages, self._sample_rate = speakers, languages, rate
        self.resolved = {"device": device, "dtype": dtype_name, "attn_implementation": attn}
        log.info(
            "qwen engine loaded %s in %.1f s (%s)",
            self.model_id,
            time.perf_counter() - started,
            self.resolved,
        )

    def unload(self) -> None:
        """Drop the model and hand its GPU memory back (SPEC §3 idle unload)."""
        if self._tts is None:
            return
        self._tts = None
        gc.collect()
        release_cuda_memory()
        log.info("qwen engine unloaded %s", self.model_id)

    # ------------------------------------------------------------------ voices

    def _catalogue(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Speakers and languages: from the model when loaded, else without loading it."""
        if self._speakers:
            return self._speakers, self._languages
        config = Path(self.model_id) / "config.json"
        if config.is_file():
            try:
                talker = json.loads(config.read_text(encoding="utf-8"))["talker_config"]
                speakers = tuple(sorted(k.lower() for k in talker["spk_id"]))
                langs = [
                    "auto",
                    *(k.lower() for k in talker["codec_language_id"] if "dialect" not in k),
                ]
                return speakers, tuple(sorted(langs))
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return PUBLISHED_SPEAKERS, PUBLISHED_LANGUAGES

    def voices(self) -> list[Voice]:
        speakers, languages = self._catalogue()
        return [
            Voice(
                name=s,
                languages=languages,
                default_language="auto",
                description=f"Qwen3-TTS speaker {s}"
                + (f", native {SPEAKER_NATIVE[s]}" if s in SPEAKER_NATIVE else ""),
            )
            for s in speakers
        ]

    def default_voice(self) -> str:
        speakers, _ = self._catalogue()
        if self._default_speaker:
            return self._default_speaker
        return next((s for s in PREFERRED_DEFAULTS if s in speakers), speakers[0])

    def resolve_voice(self, voice: str | None) -> str:
        """The model's name for `voice` (case-insensitive), or `InvalidRequest`."""
        speakers, _ = self._catalogue()
        name = (voice or self.default_voice()).strip().lower()
        if name not in speakers:
            raise InvalidRequest(
                f"unknown voice {voice!r} for the qwen engine; choose one of {list(speakers)}",
                field="voice",
            )
        return name

    def resolve_language(self, language: str | None) -> str:
        """The model's name for `language` ("auto" when absent), or `InvalidRequest`.

        Accepts the model's names case-insensitively and ISO 639-1 codes with an
        optional region ("en", "en-US", "ja_JP"), which is what clients usually send.
        """
        _, languages = self._catalogue()
        if language is None or not language.strip():
            return "auto"
        name = language.strip().lower()
        if name not in languages:
            name = ISO_LANGUAGES.get(name.replace("_", "-").split("-")[0], name)
        if name not in languages:
            raise InvalidRequest(
                f"unknown language {language!r} for the qwen engine; "
                f"choose one of {list(languages)}",
                field="language",
            )
        return name

    def resolve(self, voice: str | None, language: str | None, speed: float = 1.0) -> Resolved:
        """Speaker and language as the model names them; speed is the model's own only."""
        speaker = self.resolve_voice(voice)
        model_language = self.resolve_language(language)
        if speed != 1.0:
            raise InvalidRequest(
                "the qwen engine speaks at its natural rate only (speed 1.0)", field="speed"
            )
        tag = language_tag(language)
        locale = tag if tag and "-" in tag else language_tag(model_language)
        return Resolved(speaker, model_language, locale, speed)

    # ------------------------------------------------------------------ synthesis

    def synthesize(self, request: SynthesisRequest) -> Iterator[np.ndarray]:
        """Speak one sentence; validation happens here, before the generator starts,
        so a bad request fails at the call rather than at the first `next()`."""
        resolved = self.resolve(request.voice, request.language, request.speed)
        speaker, language = resolved.voice, resolved.language
        if self._tts is None:
            raise EngineError("the qwen engine is not loaded")
        text = request.text.strip()
        return self._generate(text, speaker, language)

    def _generate(self, text: str, speaker: str, language: str) -> Iterator[np.ndarray]:
        if not text:
            return
        tokens = self.token_budget(text, language)
        kwargs = {**self.generate_kwargs, "max_new_tokens": tokens}
        if self.streaming:
            yield from self._stream(text, speaker, language, kwargs)
            return
        try:
            with self._torch.inference_mode():
                if self.seed is not None:
                    self._torch.manual_seed(self.seed)
                wavs, rate = self._tts.generate_custom_voice(
                    text=text, speaker=speaker, language=language, **kwargs
                )
        except Exception as exc:
            raise EngineError(f"qwen synthesis failed: {exc}") from exc
        if int(rate) != self._sample_rate:
            raise EngineError(f"model returned {rate} Hz audio, expected {self._sample_rate} Hz")
        yield float_to_int16(np.asarray(wavs[0], dtype=np.float32).reshape(-1))

    # ------------------------------------------------------------------ streaming

    def _stream(
        self, text: str, speaker: str, language: str, kwargs: dict[str, Any]
    ) -> Iterator[np.ndarray]:
        """Yield audio while the talker is still generating.

        `qwen-tts` returns whole utterances only, so generation runs on a helper
        thread and a forward hook on the talker hands over each 16-code frame as it is
        sampled (`output.hidden_states[1]`; None at prefill). The frames equal the
        codes a full call would return, up to the codec end token. Closing this
        generator early (barge-in) stops the generation at its next step.
        """
        tts, torch = self._tts, self._torch
        model = tts.model
        eos = int(model.config.talker_config.codec_eos_token_id)
        frames: queue.Queue[Any] = queue.Queue()
        cancel = threading.Event()
        failure: list[BaseException] = []
        done = object()

        def on_step(_module: Any, _args: Any, output: Any) -> None:
            if cancel.is_set():
                raise _Cancelled
            codes = output.hidden_states[1]
            if codes is not None:
                frames.put(codes[0].detach().clone())

        def generate() -> None:
            try:
                with torch.inference_mode():
                    if self.seed is not None:
                        torch.manual_seed(self.seed)
                    # What generate_custom_voice() does (qwen-tts is pinned to 0.1.1),
                    # minus its final whole-utterance decode, which streaming replaces.
                    model.generate(
                        input_ids=tts._tokenize_texts([tts._build_assistant_text(text)]),
                        instruct_ids=[None], languages=[language], speakers=[speaker],
                        non_streaming_mode=True, **tts._merge_generate_kwargs(**kwargs),
                    )  # fmt: skip
            except _Cancelled:
                pass
            except BaseException as exc:
                failure.append(exc)
            finally:
                frames.put(done)

        hook = model.talker.register_forward_hook(on_step)
        worker = threading.Thread(target=generate, name="qwen-stream", daemon=True)
        worker.start()
        codes: list[Any] = []
        emitted = 0
        try:
            while (item := frames.get()) is not done:
                if int(item[0]) == eos:
                    break  # the talker stops here; nothing after it is speech
                codes.append(item)
                due = self.stream_chunk_frames if emitted else -(-self.stream_chunk_frames // 2)
                if len(codes) - emitted >= due:
                    yield self._decode_window(codes, emitted)
                    emitted = len(codes)
            worker.join()
            if failure:
                raise EngineError(f"qwen synthesis failed: {failure[0]}") from failure[0]
            if len(codes) > emitted:
                yield self._decode_window(codes, emitted)
        finally:
            cancel.set()
            worker.join()
            hook.remove()

    def _decode_window(self, codes: list[Any], start: int) -> np.ndarray:
        """Decode frames `start:` with left context and keep only the new samples."""
        first = max(0, start - self.stream_context_frames)
        window = self._torch.stack(codes[first:], dim=0)
        try:
            wavs, _ = self._tts.model.speech_tokenizer.decode({"audio_codes": window})
        except Exception as exc:
            raise EngineError(f"qwen decode failed: {exc}") from exc
        audio = np.asarray(wavs[0], dtype=np.float32).reshape(-1)
        per_frame = audio.size // window.shape[0]
        return float_to_int16(audio[(start - first) * per_frame :])


class _Cancelled(Exception):
    """Raised inside the talker's forward hook to abandon a generation nobody hears."""
