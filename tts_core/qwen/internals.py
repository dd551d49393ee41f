"""Everything that reaches inside `qwen-tts` (pinned to 0.1.1), in one module.

Why: the batched runtime owns the decode loop instead of calling `generate`, so it
needs the model's pieces one by one: the prompt `generate_custom_voice` builds, the
talker's and the code predictor's decoder layers run against our own slot cache,
their heads and embeddings, and the codec decoder. Those are private shapes of a
pinned package. Keeping every such access here means a new `qwen-tts` release
breaks one file, loudly (`check_internals` runs at load and in the tests), and
the scheduler, runner and cache manager stay ignorant of it.

It is longer than this project's other modules on purpose: splitting it would
spread the package's private shapes over several files, which is what it exists
to prevent.

The decoder layers are `qwen-tts`'s own modules, called with a cache object of
ours (anything with `update(key, value, layer_idx, kwargs)`, which is all the
attention layers ask of a cache) and a boolean attention mask of ours. So the
arithmetic is the package's: the same projections, norms, rotary embedding and
attention kernel, with per-row positions that `generate` cannot offer.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from dataclasses import dataclass
from typing import Any

PINNED_VERSION = "0.1.1"
#: `generate` hard-codes these (qwen_tts/core/models/modeling_qwen3_tts.py, generate()).
MIN_NEW_TOKENS = 2
SUPPRESSED_TOP_IDS = 1024  # the codec vocabulary's last 1024 ids are control tokens


class InternalsChanged(RuntimeError):
    """The installed qwen-tts no longer has the shape this runtime was written against."""


@dataclass(frozen=True)
class ModelShape:
    """The sizes the cache manager and the runner allocate for."""

    talker_layers: int
    talker_kv_heads: int
    talker_head_dim: int
    hidden: int
    codec_vocab: int
    predictor_layers: int
    predictor_kv_heads: int
    predictor_head_dim: int
    predictor_vocab: int
    code_groups: int
    codec_eos: int
    samples_per_frame: int
    sample_rate: int


@dataclass(frozen=True)
class ClonePrompt:
    """A voice made from reference audio by qwen-tts's `create_voice_clone_prompt`.

    `speaker` is the speaker encoder's x-vector [hidden]; `ref_code` the reference
    audio's codec frames [T, groups] and `ref_text` its transcript, both None in
    x-vector-only mode (no transcript given). Tensors live on the CPU so a prompt
    can be stored, and move to the model's device when a prompt is built.
    """

    speaker: Any
    ref_code: Any = None
    ref_text: str | None = None

    @property
    def icl(self) -> bool:
        return self.ref_code is not None


def create_clone_prompt(tts: Any, wav: Any, sample_rate: int, ref_text: str | None) -> ClonePrompt:
    """qwen-tts's own `create_voice_clone_prompt` on mono float audio: the speaker
    encoder's x-vector, and with a transcript the reference codec frames (ICL mode);
    without one, x-vector-only mode."""
    item = tts.create_voice_clone_prompt(
        ref_audio=(wav, int(sample_rate)), ref_text=ref_text or None,
        x_vector_only_mode=not ref_text,
    )[0]  # fmt: skip
    code = None if item.ref_code is None else item.ref_code.detach().to("cpu")
    return ClonePrompt(item.ref_spk_embedding.detach().to("cpu"), code, item.ref_text or None)


def generate_clone(tts: Any, text: str, language: str, clone: ClonePrompt, **kwargs: Any) -> Any:
    """The stock path for a cloned voice: `generate_voice_clone` with the stored prompt,
    in the same non-streaming text mode the batched runtime prefills with."""
    from qwen_tts.inference.qwen3_tts_model import VoiceClonePromptItem

    item = VoiceClonePromptItem(
        ref_code=clone.ref_code, ref_spk_embedding=clone.speaker, x_vector_only_mode=not clone.icl,
        icl_mode=clone.icl, ref_text=clone.ref_text,
    )  # fmt: skip
    return tts.generate_voice_clone(
        text=text, language=language, voice_clone_prompt=[item], non_streaming_mode=True, **kwargs
    )


def installed_version() -> str | None:
    try:
        return importlib.metadata.version("qwen-tts")
    except importlib.metadata.PackageNotFoundError:
        return None


def check_internals(tts: Any) -> None:
    """Fail loudly if anything this module relies on moved (call it after loading)."""
    version = installed_version()
    if version is not None and version != PINNED_VERSION:
        raise InternalsChanged(
            f"the batched Qwen runtime is written against qwen-tts=={PINNED_VERSION}, "
            f"found {version}; pin it, or run the engine with runtime=stock"
        )
    model = getattr(tts, "model", None)
    talker = getattr(model, "talker", None)
    needed = {
        "tts.processor": getattr(tts, "processor", None),
        "model.config.talker_config": getattr(
            getattr(model, "config", None), "talker_config", None
        ),
        "model.speech_tokenizer": getattr(model, "speech_tokenizer", None),
        "talker.model.layers": getattr(getattr(talker, "model", None), "layers", None),
        "talker.model.rotary_emb": getattr(getattr(talker, "model", None), "rotary_emb", None),
        "talker.model.norm": getattr(getattr(talker, "model", None), "norm", None),
        "talker.codec_head": getattr(talker, "codec_head", None),
        "talker.text_projection": getattr(talker, "text_projection", None),
        "talker.code_predictor": getattr(talker, "code_predictor", None),
    }
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise InternalsChanged(f"qwen-tts internals missing: {', '.join(missing)}")
    predictor = talker.code_predictor
    for name in ("lm_head", "small_to_mtp_projection"):
        if not hasattr(predictor, name):
            raise InternalsChanged(f"qwen-tts code predictor has no {name}")
    for name in ("layers", "norm", "rotary_emb", "codec_embedding"):
        if not hasattr(predictor.model, name):
            raise InternalsChanged(f"qwen-tts code predictor model has no {name}")
    layer = talker.model.layers[0]
    params = inspect.signature(layer.forward).parameters
    for name in ("attention_mask", "past_key_values", "cache_position", "position_embeddings"):
        if name not in params:
            raise InternalsChanged(f"qwen-tts talker layers no longer take {name}")
    decoder = getattr(getattr(model.speech_tokenizer, "model", None), "decoder", None)
    if decoder is None or not hasattr(decoder, "total_upsample"):
        raise InternalsChanged("qwen-tts 12 Hz codec decoder not found")
    cfg = model.config.talker_config
    for name in ("codec_eos_token_id", "codec_pad_id", "codec_bos_id", "codec_think_id",
                 "codec_nothink_id", "codec_think_bos_id", "codec_think_eos_id", "spk_id",
                 "spk_is_dialect", "codec_language_id", "num_code_groups"):  # fmt: skip
        if not hasattr(cfg, name):
            raise InternalsChanged(f"qwen-tts talker config has no {name}")


class QwenModel:
    """The loaded model, seen as the pieces the batched runtime drives."""

    def __init__(self, tts: Any, torch: Any) -> None:
        check_internals(tts)
        self.tts = tts
        self.torch = torch
        model = tts.model
        self.config = model.config
        self.talker = model.talker
        self.predictor = model.talker.code_predictor
        self.codec = model.speech_tokenizer.model
        self.device = self.talker.device
        self.dtype = next(self.talker.parameters()).dtype
        tc = self.config.talker_config
        pc = tc.code_predictor_config
        self.shape = ModelShape(
            talker_layers=len(self.talker.model.layers),
            talker_kv_heads=tc.num_key_value_heads,
            talker_head_dim=getattr(tc, "head_dim", tc.hidden_size // tc.num_attention_heads),
            hidden=tc.hidden_size,
            codec_vocab=tc.vocab_size,
            predictor_layers=len(self.predictor.model.layers),
            predictor_kv_heads=pc.num_key_value_heads,
            predictor_head_dim=getattr(pc, "head_dim", pc.hidden_size // pc.num_attention_heads),
            predictor_vocab=pc.vocab_size,
            code_groups=tc.num_code_groups,
            codec_eos=int(tc.codec_eos_token_id),
            samples_per_frame=int(model.speech_tokenizer.get_decode_upsample_rate()),
            sample_rate=int(model.speech_tokenizer.get_output_sample_rate()),
        )
        # The runtime's masks and per-row positions need an attention kernel that
        # takes an explicit mask: sdpa (or eager), never flash-attention's varlen path.
        for config in (tc, pc):
            if getattr(config, "_attn_implementation", "sdpa") not in ("sdpa", "eager"):
                config._attn_implementation = "sdpa"
        self._codec_mask_cache: dict[int, dict[str, Any]] = {}
        self.conv_context = self.calibrate_conv_context()
        with torch.inference_mode():
            special = torch.tensor(
                [[self.config.tts_bos_token_id, self.config.tts_eos_token_id,
                  self.config.tts_pad_token_id]],
                device=self.device,
            )  # fmt: skip
            # Computed as generate() does (all three at once, then split), so the
            # prompt's rows are bit-identical to the package's.
            self.tts_bos, self.tts_eos, self.tts_pad = self._text(special).chunk(3, dim=1)

    # ------------------------------------------------------------ prompt

    def tokenize(self, text: str) -> Any:
        """Token ids of the assistant turn `generate_custom_voice` builds, shape [1, N].

        On the host, deliberately: this runs on the event loop's thread, and a copy
        to the GPU there would wait behind the decode step already queued on it."""
        wrapped = f"<|im_start|>assistant\n{text}<|im_end|>\n<|im_start|>assistant\n"
        ids = self.tts.processor(text=wrapped, return_tensors="pt", padding=True)["input_ids"]
        return ids.reshape(1, -1)

    def tokenize_instruct(self, instruct: str) -> Any:
        wrapped = f"<|im_start|>user\n{instruct}<|im_end|>\n"
        ids = self.tts.processor(text=wrapped, return_tensors="pt", padding=True)["input_ids"]
        return ids.reshape(1, -1)

    @property
    def takes_instruct(self) -> bool:
        """0.6B checkpoints drop `instruct` (generate_custom_voice does the same)."""
        return self.tts.model.tts_model_size not in "0b6"

    def _text(self, ids: Any) -> Any:
        return self.talker.text_projection(self.talker.get_text_embeddings()(ids))

    def _codec(self, ids: list[list[int]]) -> Any:
        tensor = self.torch.tensor(ids, device=self.device, dtype=self.torch.long)
        return self.talker.get_input_embeddings()(tensor)

    def language_id(self, speaker: str | None, language: str) -> int | None:
        tc = self.config.talker_config
        name = language.lower()
        language_id = None if name == "auto" else tc.codec_language_id[name]
        dialect = tc.spk_is_dialect.get(speaker.lower(), False) if speaker else False
        if name in ("chinese", "auto") and dialect:
            language_id = tc.codec_language_id[dialect]
        return language_id

    def prompt_length(self, ids: Any, speaker: str, language: str, instruct_ids: Any = None) -> int:
        """Length of `build_prompt`'s result, without building it (to refuse early)."""
        tags = 3 if self.language_id(speaker, language) is None else 4
        extra = 0 if instruct_ids is None else int(instruct_ids.shape[1])
        return extra + tags + int(ids.shape[1]) - 1

    def _head(self, ids: Any, language_id: int | None, speaker_embed: Any) -> Any:
        """The role tokens and the codec tags under pads, which every prompt starts with."""
        torch = self.torch
        tc = self.config.talker_config
        if language_id is None:
            tags = [[tc.codec_nothink_id, tc.codec_think_bos_id, tc.codec_think_eos_id]]
        else:
            tags = [[tc.codec_think_id, tc.codec_think_bos_id, language_id, tc.codec_think_eos_id]]
        tail_tags = self._codec([[tc.codec_pad_id, tc.codec_bos_id]])
        codec = torch.cat([self._codec(tags), speaker_embed.view(1, 1, -1), tail_tags], dim=1)
        role = self._text(ids[:, :3])
        lead = (
            torch.cat((self.tts_pad.expand(-1, codec.shape[1] - 2, -1), self.tts_bos), dim=1)
            + codec[:, :-1]
        )
        return torch.cat((role, lead), dim=1)

    def _body(self, ids: Any) -> Any:
        """The whole text under codec pads, then the first codec input (non-streaming text)."""
        torch = self.torch
        tc = self.config.talker_config
        text = ids[:, 3:-5]
        body = torch.cat((self._text(text), self.tts_eos), dim=1) + self._codec(
            [[tc.codec_pad_id] * (text.shape[1] + 1)]
        )
        tail = self.tts_pad + self._codec([[tc.codec_bos_id]])
        return torch.cat((body, tail), dim=1)

    def build_prompt(self, ids: Any, speaker: str, language: str, instruct_ids: Any = None) -> Any:
        """The talker's prefill embeddings, as `generate` builds them for a CustomVoice
        speaker in its default non-streaming text mode. Shape [1, T, hidden]."""
        torch = self.torch
        tc = self.config.talker_config
        ids = ids.to(self.device)  # tokenized on the host (see `tokenize`)
        if instruct_ids is not None:
            instruct_ids = instruct_ids.to(self.device)
        speaker_embed = self.talker.get_input_embeddings()(
            torch.tensor(tc.spk_id[speaker.lower()], device=self.device, dtype=ids.dtype)
        )
        parts = [self._head(ids, self.language_id(speaker, language), speaker_embed)]
        parts.append(self._body(ids))
        if instruct_ids is not None:
            parts.insert(0, self._text(instruct_ids))
        return torch.cat(parts, dim=1)

    # ------------------------------------------------------------ voice clone (Base)

    def tokenize_ref(self, ref_text: str) -> Any:
        """Token ids of the reference transcript's turn, as `generate_voice_clone` builds it."""
        wrapped = f"<|im_start|>assistant\n{ref_text}<|im_end|>\n"
        ids = self.tts.processor(text=wrapped, return_tensors="pt", padding=True)["input_ids"]
        return ids.reshape(1, -1)  # on the host, like `tokenize`

    def clone_prompt_length(self, ids: Any, language: str, clone: ClonePrompt,
                            ref_ids: Any = None) -> int:  # fmt: skip
        """Length of `build_clone_prompt`'s result, without building it."""
        tags = 3 if self.language_id(None, language) is None else 4
        head = 3 + tags + 2
        if not clone.icl:
            return head + int(ids.shape[1]) - 8 + 2
        text = int(ref_ids.shape[1]) - 5 + int(ids.shape[1]) - 8 + 1
        return head + text + 1 + int(clone.ref_code.shape[0])

    def build_clone_prompt(self, ids: Any, language: str, clone: ClonePrompt,
                           ref_ids: Any = None) -> Any:  # fmt: skip
        """The talker's prefill embeddings, as `generate` builds them for a voice-clone
        prompt in non-streaming text mode (`generate_voice_clone(...,
        non_streaming_mode=True)`): the x-vector in the speaker's place, then either the
        whole text (x-vector only) or, in ICL mode, the reference transcript and the
        text under codec pads followed by the reference audio's codec frames, which
        the talker continues. Shape [1, T, hidden]."""
        torch = self.torch
        tc = self.config.talker_config
        ids = ids.to(self.device)
        if ref_ids is not None:
            ref_ids = ref_ids.to(self.device)
        speaker = clone.speaker.to(device=self.device, dtype=self.dtype)
        head = self._head(ids, self.language_id(None, language), speaker)
        if not clone.icl:
            return torch.cat((head, self._body(ids)), dim=1)
        text = torch.cat((self._text(torch.cat((ref_ids[:, 3:-2], ids[:, 3:-5]), dim=-1)),
                          self.tts_eos), dim=1)  # fmt: skip
        text = text + self._codec([[tc.codec_pad_id] * text.shape[1]])
        code = clone.ref_code.to(self.device)
        groups = [self.talker.get_input_embeddings()(code[:, :1])]
        groups += [self.predictor.get_input_embeddings()[i - 1](code[:, i : i + 1])
                   for i in range(1, self.shape.code_groups)]  # fmt: skip
        frames = torch.cat(groups, dim=1).sum(1).unsqueeze(0)
        frames = torch.cat((self._codec([[tc.codec_bos_id]]), frames), dim=1) + self.tts_pad
        return torch.cat((head, text, frames), dim=1)

    # ------------------------------------------------------------ talker

    def codec_embed(self, tokens: Any) -> Any:
        """Embedding of codebook-0 tokens [B] → [B, 1, hidden]."""
        return self.talker.get_input_embeddings()(tokens[:, None])

    def talker_forward(self, hidden: Any, positions: Any, cache: Any, mask: Any) -> Any:
        """Run the talker's decoder layers; `positions` [B, T]; returns normed states."""
        stack = self.talker.model
        rope = stack.rotary_emb(hidden, positions[None].expand(3, -1, -1))
        return _run_layers(stack, hidden, positions, rope, cache, mask)

    def codec_logits(self, hidden: Any) -> Any:
        """Codebook-0 logits [B, vocab] in float32 from the last states [B, hidden]."""
        return self.talker.codec_head(hidden).float()

    # ------------------------------------------------------------ code predictor

    def predictor_forward(self, inputs: Any, positions: Any, cache: Any) -> Any:
        """Code predictor layers over talker-sized inputs [B, T, hidden]; all rows share
        positions, so no mask is needed (sdpa is causal for T > 1)."""
        hidden = self.predictor.small_to_mtp_projection(inputs)
        stack = self.predictor.model
        rope = stack.rotary_emb(hidden, positions)
        return _run_layers(stack, hidden, positions, rope, cache, None)

    def predictor_logits(self, hidden: Any, group: int) -> Any:
        """Logits for code group `group + 1` (lm_head[group]) in float32."""
        return self.predictor.lm_head[group](hidden).float()

    def predictor_embed(self, codes: Any, group: int) -> Any:
        """Embedding of code group `group + 1` [B] → [B, 1, hidden]."""
        return self.predictor.get_input_embeddings()[group](codes[:, None])

    # ------------------------------------------------------------ codec

    def decode_codes(self, codes: Any) -> Any:
        """Codec frames [B, T, groups] → float waveforms [B, T * samples_per_frame]."""
        wav = self.codec.decoder(self.torch.clamp(codes, min=0).transpose(1, 2))
        return wav.squeeze(1)

    def codec_hidden(self, codes: Any) -> Any:
        """The decoder's frame-rate half: codebooks, pre-conv and its windowed
        transformer. Codec frames [B, T, groups] → hidden [B, D, T]."""
        dec = self.codec.decoder
        hidden = dec.quantizer.decode(self.torch.clamp(codes, min=0).transpose(1, 2))
        hidden = dec.pre_conv(hidden).transpose(1, 2)
        masks = self._codec_masks(hidden.shape[1])
        hidden = dec.pre_transformer(inputs_embeds=hidden, attention_mask=masks).last_hidden_state
        return hidden.permute(0, 2, 1)

    def _codec_masks(self, length: int) -> dict[str, Any]:
        """The codec transformer's masks, built once per length: causal, and causal
        within its sliding window (what transformers' mask builder makes, which costs
        ~10 ms per call through vmap, more than the transformer itself)."""
        masks = self._codec_mask_cache.get(length)
        if masks is None:
            torch = self.torch
            window = int(self.codec.decoder.config.sliding_window)
            i = torch.arange(length, device=self.device)[:, None]
            j = torch.arange(length, device=self.device)[None, :]
            causal = (j <= i)[None, None]
            masks = {"full_attention": causal, "sliding_attention": causal & (j > i - window)}
            if len(self._codec_mask_cache) >= 256:
                self._codec_mask_cache.clear()
            self._codec_mask_cache[length] = masks
        return masks

    def codec_waveform(self, hidden: Any) -> Any:
        """The decoder's sample-rate half: upsampling convolutions to audio.
        Hidden [B, D, T] → float waveforms [B, T * samples_per_frame]."""
        dec = self.codec.decoder
        for blocks in dec.upsample:
            for block in blocks:
                hidden = block(hidden)
        for block in dec.decoder:
            hidden = block(hidden)
        return hidden.clamp(min=-1, max=1).squeeze(1)

    def calibrate_conv_context(self, candidates: tuple[int, ...] = (8, 12, 16, 24)) -> int | None:
        """Frames of hidden state the convolutions need before a chunk for exact audio.

        Why: the transformer half needs a long left context (a 72-frame window) but
        is cheap, running at 12.5 frames per second; the convolution half runs at
        24 kHz and needs only a few frames (their receptive field). Decoding each
        chunk's convolutions from a few frames back instead of 72 cuts most of the
        streaming decode's cost. Measured on this checkpoint's own decoder rather
        than assumed: the smallest candidate whose audio matches a whole decode
        (1e-4 of full scale), or None to convolve the whole window.
        """
        torch = self.torch
        frames, keep = 48, 32
        gen = torch.Generator(device="cpu").manual_seed(0)
        codes = torch.randint(0, self.shape.predictor_vocab, (1, frames, self.shape.code_groups),
                              generator=gen).to(self.device)  # fmt: skip
        spf = self.shape.samples_per_frame
        with torch.inference_mode():
            hidden = self.codec_hidden(codes)
            whole = self.codec_waveform(hidden)[0, keep * spf :].float()
            for ctx in candidates:
                part = self.codec_waveform(hidden[..., keep - ctx :])[0, ctx * spf :].float()
                if (part - whole).abs().max().item() < 1e-4:
                    return ctx
        return None

    def generation_defaults(self) -> dict[str, Any]:
        """The checkpoint's generate_config.json, as `generate_custom_voice` merges it."""
        return dict(getattr(self.tts, "generate_defaults", None) or {})


def _run_layers(stack: Any, hidden: Any, positions: Any, rope: Any, cache: Any, mask: Any) -> Any:
    """A decoder stack's own layers and final norm, against our cache and mask."""
    for layer in stack.layers:
        hidden = layer(
            hidden, attention_mask=mask, past_key_values=cache, use_cache=True,
            cache_position=positions[0], position_embeddings=rope,
        )[0]  # fmt: skip
    return stack.norm(hidden)
