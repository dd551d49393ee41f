"""Builds a tiny, randomly initialised Qwen3-TTS CustomVoice checkpoint offline.

Why: no weights can be downloaded in CI, yet the qwen engine must be tested through
the real `qwen-tts` loading (`Qwen3TTSModel.from_pretrained`) and generation code.
So this builds a real checkpoint folder of the same shape as the released ones
(config.json, safetensors, tokenizer files, speech_tokenizer/,
generation_config.json), only with a 2-layer, 32-wide talker, a 1-layer code
predictor and a tiny 12 Hz codec, and lets the engine load it like any other.

Importing this module installs the torchaudio/sox stand-ins
(tests/support/torchaudio_shim.py) before anything imports `qwen_tts`; only the
qwen tests import it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import torchaudio_shim

torchaudio_shim.install()

import torch  # noqa: E402
from qwen_tts.core.models import (  # noqa: E402
    Qwen3TTSConfig,
    Qwen3TTSForConditionalGeneration,
    Qwen3TTSProcessor,
)
from qwen_tts.core.tokenizer_12hz.configuration_qwen3_tts_tokenizer_v2 import (  # noqa: E402
    Qwen3TTSTokenizerV2Config,
)
from qwen_tts.core.tokenizer_12hz.modeling_qwen3_tts_tokenizer_v2 import (  # noqa: E402
    Qwen3TTSTokenizerV2Model,
)
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import EncodecFeatureExtractor, Qwen2TokenizerFast  # noqa: E402

# The released checkpoints' speaker and language codec ids (any distinct ids below
# the talker vocabulary would do; these keep the tiny model shaped like the real one).
SPEAKER_IDS = {
    "vivian": 3065, "serena": 3066, "uncle_fu": 3010, "ryan": 3061, "aiden": 2861,
    "ono_anna": 2873, "sohee": 2864, "eric": 2875, "dylan": 2878,
}  # fmt: skip
DIALECT = {"dylan": "beijing_dialect", "eric": "sichuan_dialect"}
LANGUAGE_IDS = {
    "chinese": 2055, "english": 2050, "japanese": 2058, "korean": 2064, "german": 2053,
    "french": 2061, "russian": 2069, "portuguese": 2071, "spanish": 2054, "italian": 2070,
    "beijing_dialect": 2074, "sichuan_dialect": 2062,
}  # fmt: skip
CODEC_EOS = 2150
SAMPLES_PER_FRAME = 1920  # 24000 Hz / 12.5 frames per second

# Qwen2's pre-tokenizer split pattern: with it, "<|im_start|>assistant\n" is 3 tokens,
# which the model's prompt slicing (`input_id[:, :3]`) depends on.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>",
]  # fmt: skip


def build_text_tokenizer() -> Qwen2TokenizerFast:
    """A 400-entry byte-level BPE: covers any text (bytes), tiny to train."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])  # fmt: skip
    bpe.decoder = decoders.ByteLevel()
    corpus = ["assistant\n", "user\n"] * 50 + ["Hello world. This is a phone gateway test."] * 5
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    bpe.train_from_iterator(corpus, trainer)
    tok = Qwen2TokenizerFast(
        tokenizer_object=bpe, bos_token=None, eos_token="<|im_end|>",
        pad_token="<|endoftext|>", unk_token=None, errors="replace",
    )  # fmt: skip
    assert len(tok("<|im_start|>assistant\n")["input_ids"]) == 3
    return tok


# The released 0.6B shape (public configs and ports; see bench/qwen.py), for
# benchmarks of a random-weight model of the real size. The codec decoder is
# qwen-tts's own default decoder configuration, which the released codec uses.
TALKER_06B = dict(
    hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
    num_key_value_heads=8, head_dim=128, text_hidden_size=2048, text_vocab_size=151936,
    rope_scaling={"rope_type": "default", "mrope_section": [24, 20, 20], "interleaved": True},
    max_position_embeddings=32768,
)  # fmt: skip
PREDICTOR_06B = dict(
    hidden_size=1024, intermediate_size=3072, num_hidden_layers=5, num_attention_heads=16,
    num_key_value_heads=8, head_dim=128, max_position_embeddings=65536,
)  # fmt: skip
# qwen-tts's decoder defaults (8 layers, latent 1024, decoder_dim 1536); the codebook
# width has no default there: 512 is the released codec's.
CODEC_DECODER_06B: dict[str, object] = {"codebook_dim": 512}


def build_speech_tokenizer(decoder: dict[str, object] | None = None) -> Qwen3TTSTokenizerV2Model:
    """A 12 Hz codec small enough to decode in milliseconds, initialised to make sound;
    `decoder` replaces the decoder configuration (e.g. `CODEC_DECODER_06B`)."""
    tiny_decoder = dict(
        codebook_size=2048, codebook_dim=16, hidden_size=16, latent_dim=16, head_dim=8,
        num_attention_heads=2, num_key_value_heads=2, intermediate_size=32,
        num_hidden_layers=1, num_quantizers=16, upsample_rates=[8, 5, 4, 3],
        upsampling_ratios=[2, 2], decoder_dim=32, sliding_window=72,
        max_position_embeddings=8000,
    )  # fmt: skip
    config = Qwen3TTSTokenizerV2Config(
        encoder_config=dict(
            hidden_size=16, num_filters=4, num_residual_layers=1, num_hidden_layers=1,
            num_attention_heads=2, num_key_value_heads=2, head_dim=8, intermediate_size=32,
            codebook_size=2048, codebook_dim=16, vector_quantization_hidden_dimension=16,
            num_quantizers=16, num_semantic_quantizers=1, sliding_window=250,
            upsampling_ratios=[8, 6, 5, 4], frame_rate=12.5, sampling_rate=24000,
            upsample_groups=16,  # Mimi: must divide hidden_size
        ),
        decoder_config=tiny_decoder if decoder is None else decoder,
        encoder_valid_num_quantizers=16, input_sample_rate=24000, output_sample_rate=24000,
        decode_upsample_rate=SAMPLES_PER_FRAME, encode_downsample_rate=SAMPLES_PER_FRAME,
    )  # fmt: skip
    codec = Qwen3TTSTokenizerV2Model(config)
    with torch.no_grad():
        # Default init decodes to ~1e-10 (codebook sums start at zero, std 0.02 weights):
        # randomise, then scale the last conv so most samples stay inside [-1, 1].
        for name, param in codec.decoder.named_parameters():
            if name.endswith("embedding_sum"):
                param.normal_(0, 1.0)
            elif param.dim() >= 2:
                torch.nn.init.xavier_normal_(param)
        codec.decoder.decoder[-1].conv.weight.mul_(0.05)
    return codec


def build_model(
    tok: Qwen2TokenizerFast,
    size: str = "0b6",
    talker: dict[str, object] | None = None,
    predictor: dict[str, object] | None = None,
    kind: str = "custom_voice",
) -> Qwen3TTSForConditionalGeneration:
    """The tiny model, or another shape: `talker` and `predictor` override its sizes.

    `kind` "base" builds a Base (voice clone) model: no named speakers, and a
    speaker encoder (ECAPA-TDNN) whose embedding is as wide as the talker."""
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    talker_size = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, text_hidden_size=32, text_vocab_size=len(tok),
        rope_scaling={"rope_type": "default", "mrope_section": [4, 2, 2], "interleaved": True},
        max_position_embeddings=4096,
    ) | (talker or {})  # fmt: skip
    predictor_size = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
    ) | (predictor or {})  # fmt: skip
    speakers = SPEAKER_IDS if kind == "custom_voice" else {}
    width = talker_size["hidden_size"]
    speaker_encoder = dict(
        enc_dim=width, enc_channels=[16, 16, 16, 16, 48], enc_attention_channels=8,
        enc_res2net_scale=4, enc_se_channels=8,
    )  # fmt: skip
    config = Qwen3TTSConfig(
        speaker_encoder_config=speaker_encoder,
        talker_config=dict(
            vocab_size=3072, rope_theta=1000000.0, num_code_groups=16,
            **talker_size, codec_eos_token_id=CODEC_EOS, codec_think_id=2154,
            codec_nothink_id=2155, codec_think_bos_id=2156, codec_think_eos_id=2157,
            codec_pad_id=2148, codec_bos_id=2149, spk_id=speakers,
            spk_is_dialect={s: DIALECT.get(s, False) for s in speakers},
            codec_language_id=LANGUAGE_IDS,
            code_predictor_config=dict(vocab_size=2048, num_code_groups=16, **predictor_size),
        ),
        tokenizer_type="qwen3_tts_tokenizer_12hz", tts_model_size=size,
        tts_model_type=kind, im_start_token_id=ids["<|im_start|>"],
        im_end_token_id=ids["<|im_end|>"], tts_pad_token_id=ids["<tts_pad>"],
        tts_bos_token_id=ids["<tts_text_bos>"], tts_eos_token_id=ids["<tts_text_eod>"],
        architectures=["Qwen3TTSForConditionalGeneration"],
    )  # fmt: skip
    return Qwen3TTSForConditionalGeneration(config)


def build_tiny_checkpoint(
    out: Path,
    seed: int = 0,
    size: str = "0b6",
    *,
    talker: dict[str, object] | None = None,
    predictor: dict[str, object] | None = None,
    codec_decoder: dict[str, object] | None = None,
    kind: str = "custom_voice",
) -> Path:
    """Write a complete CustomVoice checkpoint folder to `out` and return it.

    `size` is the label qwen-tts reads to decide whether `instruct` is honoured
    ("0b6" drops it, as the released 0.6B does; "1b7" keeps it); `talker`,
    `predictor` and `codec_decoder` give other shapes (the benchmark's 0.6B); `kind`
    "base" writes a Base (voice clone) checkpoint instead of a CustomVoice one."""
    torch.manual_seed(seed)
    tok = build_text_tokenizer()
    model = build_model(tok, size, talker, predictor, kind)
    codec = build_speech_tokenizer(codec_decoder)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    # save_pretrained writes "model_type": "" into speaker_encoder_config, whose
    # __init__ takes no **kwargs: reloading would fail with it.
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["speaker_encoder_config"].pop("model_type", None)
    config_path.write_text(json.dumps(config, indent=2))
    Qwen3TTSProcessor(tokenizer=tok).save_pretrained(out)
    codec.save_pretrained(out / "speech_tokenizer")
    EncodecFeatureExtractor(feature_size=1, sampling_rate=24000, padding_value=0.0).save_pretrained(
        out / "speech_tokenizer"
    )
    # The released checkpoints' generation defaults (8192 tokens: the engine must override).
    (out / "generation_config.json").write_text(json.dumps({
        "do_sample": True, "top_k": 50, "top_p": 1.0, "temperature": 0.9,
        "repetition_penalty": 1.05, "subtalker_dosample": True, "subtalker_top_k": 50,
        "subtalker_top_p": 1.0, "subtalker_temperature": 0.9, "max_new_tokens": 8192,
    }, indent=2))  # fmt: skip
    return out
