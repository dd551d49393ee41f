"""MediaFormat arithmetic and validation, and the per-utterance encoder."""

from __future__ import annotations

import numpy as np
import pytest

from telephony.events import SendAudio
from telephony.g711 import alaw_decode, ulaw_decode
from telephony.media import MediaFormat, UtteranceEncoder, decode_to_pcm16, encode_pcm16


@pytest.mark.parametrize(
    ("encoding", "rate", "frame_ms", "frame_bytes", "silence"),
    [
        ("mulaw", 8000, 20, 160, 0xFF),
        ("alaw", 8000, 20, 160, 0xD5),
        ("pcm16", 8000, 20, 320, 0x00),
        ("pcm16", 16000, 20, 640, 0x00),
        ("pcm16", 24000, 10, 480, 0x00),
        ("mulaw", 8000, 30, 240, 0xFF),
    ],
)
def test_frame_sizes_and_silence(
    encoding: str, rate: int, frame_ms: int, frame_bytes: int, silence: int
) -> None:
    fmt = MediaFormat(encoding, rate, frame_ms)
    assert fmt.frame_bytes == frame_bytes
    assert fmt.bytes_per_ms * frame_ms == frame_bytes
    assert fmt.silence_byte == silence
    assert fmt.silence_frame == bytes([silence]) * frame_bytes
    assert fmt.bytes_to_ms(frame_bytes * 3) == 3 * frame_ms
    assert fmt.ms_to_frames(frame_ms * 2 + 1) == 3


def test_defaults_are_twilio_mulaw() -> None:
    fmt = MediaFormat()
    assert (fmt.encoding, fmt.sample_rate, fmt.frame_ms) == ("mulaw", 8000, 20)
    assert fmt.frame_bytes == 160


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"encoding": "opus"}, "encoding must be one of"),
        ({"encoding": "mulaw", "sample_rate": 24000}, "mulaw is carried at 8000 Hz"),
        ({"encoding": "alaw", "sample_rate": 16000}, "alaw is carried at 8000 Hz"),
        ({"encoding": "pcm16", "sample_rate": 44100}, "pcm16 is carried at 8000, 16000, 24000"),
        ({"frame_ms": 15}, "frame_ms"),
        ({"frame_ms": 0}, "frame_ms"),
        ({"frame_ms": 110}, "frame_ms"),
        ({"frame_ms": True}, "frame_ms"),
    ],
)
def test_invalid_formats_are_refused_clearly(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MediaFormat(**kwargs)


def test_silence_frames_decode_to_silence() -> None:
    assert set(np.frombuffer(ulaw_decode(MediaFormat("mulaw").silence_frame), "<i2")) == {0}
    # A-law has no zero level: 0xD5 is the smallest positive one (+8 of 32768).
    assert set(np.frombuffer(alaw_decode(MediaFormat("alaw").silence_frame), "<i2")) == {8}


def test_pcm16_codec_is_identity() -> None:
    data = bytes(range(10))
    assert encode_pcm16("pcm16", data) == data
    assert decode_to_pcm16("pcm16", data) == data


def sine(freq: float, rate: int, seconds: float) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return np.round(12000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@pytest.mark.parametrize(
    ("source_rate", "fmt"),
    [
        (24000, MediaFormat("mulaw", 8000)),
        (22050, MediaFormat("alaw", 8000)),
        (22050, MediaFormat("pcm16", 16000)),
        (8000, MediaFormat("pcm16", 8000)),
    ],
)
def test_utterance_becomes_exact_frames_of_the_right_audio(
    source_rate: int, fmt: MediaFormat
) -> None:
    x = sine(1000, source_rate, 0.51)
    enc = UtteranceEncoder(source_rate, fmt)
    frames: list[bytes] = []
    for i in range(0, len(x), 1234):
        frames += enc.feed(x[i : i + 1234])
    frames += enc.finish()
    assert all(len(f) == fmt.frame_bytes for f in frames)
    # 510 ms -> 25.5 frames of 20 ms -> 26, the last one half padding.
    assert len(frames) == 26 == enc.frames_out
    assert enc.audio_ms == 520
    assert frames[-1][fmt.frame_bytes // 2 + 2 * fmt.bytes_per_sample :] == bytes(
        [fmt.silence_byte]
    ) * (fmt.frame_bytes // 2 - 2 * fmt.bytes_per_sample)
    pcm = np.frombuffer(fmt.decode(b"".join(frames)), "<i2").astype(np.float64)
    expected = sine(1000, fmt.sample_rate, 0.51).astype(np.float64)
    core = slice(fmt.sample_rate // 20, len(expected) - fmt.sample_rate // 20)
    # Same tone, same phase: the whole chain adds no delay and keeps the level.
    corr = np.corrcoef(pcm[core], expected[core])[0, 1]
    assert corr > 0.99


def test_encoder_is_single_use() -> None:
    enc = UtteranceEncoder(24000, MediaFormat())
    enc.feed(sine(440, 24000, 0.05))
    assert len(enc.finish()) == 3
    assert enc.finish() == []
    with pytest.raises(RuntimeError):
        enc.feed(sine(440, 24000, 0.05))


def test_empty_utterance_produces_no_frames() -> None:
    enc = UtteranceEncoder(24000, MediaFormat())
    assert enc.feed(np.zeros(0, dtype=np.int16)) == []
    assert enc.finish() == []


def test_carrier_and_file_rules_come_from_one_table() -> None:
    from telephony.carriers import carrier
    from telephony.media import file_problem

    twilio, audiosocket = carrier("twilio"), carrier("audiosocket")
    assert twilio.media_problem("mulaw", 8000) is None
    assert twilio.media_problem("pcm16", 8000) == "format twilio carries mulaw at 8000 Hz"
    assert audiosocket.media_problem("pcm16", 16000) is None
    assert "8000 or 16000" in str(audiosocket.media_problem("pcm16", 24000))
    # The AudioSocket wire refuses exactly what its codec declares.
    for rate in (8000, 16000, 24000):
        fmt = MediaFormat("pcm16", rate, 20)
        if rate in audiosocket.media_options["pcm16"]:
            codec = audiosocket.for_output(fmt)
            assert codec.send(SendAudio((fmt.silence_frame,)))[0][0] in (0x10, 0x12)
        else:
            with pytest.raises(ValueError, match="8000 or 16000"):
                audiosocket.for_output(fmt)
    assert file_problem("pcm16", 22050) is None
    assert file_problem("mulaw", 8000) is None
    assert file_problem("alaw", 16000) == "alaw is stored at 8000 Hz, not 16000"
