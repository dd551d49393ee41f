"""Framer: exact frames, remainders carried across chunks, padded last frame."""

from __future__ import annotations

import numpy as np
import pytest

from telephony.framer import Framer


@pytest.mark.parametrize(("frame_bytes", "pad"), [(160, 0xFF), (160, 0xD5), (320, 0x00)])
def test_random_chunks_give_exact_frames_and_keep_every_byte(frame_bytes: int, pad: int) -> None:
    rng = np.random.default_rng(frame_bytes + pad)
    data = rng.integers(0, 256, 10_007, dtype=np.uint8).tobytes()
    framer = Framer(frame_bytes, pad)
    frames: list[bytes] = []
    i = 0
    while i < len(data):
        n = int(rng.integers(0, 700))
        frames += framer.push(data[i : i + n])
        i += n
    last = framer.flush()
    assert last is not None
    frames.append(last)
    assert all(len(f) == frame_bytes for f in frames)
    joined = b"".join(frames)
    assert joined[: len(data)] == data
    assert joined[len(data) :] == bytes([pad]) * (len(frames) * frame_bytes - len(data))


def test_short_pushes_wait_for_a_full_frame() -> None:
    framer = Framer(160, 0xFF)
    assert framer.push(b"\x01" * 100) == []
    assert framer.pending == 100
    frames = framer.push(b"\x02" * 100)
    assert frames == [b"\x01" * 100 + b"\x02" * 60]
    assert framer.pending == 40


def test_flush_of_nothing_and_of_exact_frames_is_none() -> None:
    framer = Framer(160, 0xFF)
    assert framer.flush() is None
    assert len(framer.push(b"\x00" * 320)) == 2
    assert framer.flush() is None


def test_flush_pads_with_the_pad_byte_and_empties() -> None:
    framer = Framer(4, 0xD5)
    framer.push(b"\x01")
    assert framer.flush() == b"\x01\xd5\xd5\xd5"
    assert framer.pending == 0


@pytest.mark.parametrize(("frame_bytes", "pad"), [(0, 0), (160, 256), (160, -1)])
def test_invalid_configuration(frame_bytes: int, pad: int) -> None:
    with pytest.raises(ValueError):
        Framer(frame_bytes, pad)
