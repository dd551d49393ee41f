"""G.711 against an independent transcription of the ITU-T G.191 reference algorithm."""

from __future__ import annotations

import numpy as np
import pytest

from telephony.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32)


def ref_ulaw_compress(x: int) -> int:
    absno = ((~x) >> 2) + 33 if x < 0 else (x >> 2) + 33
    absno = min(absno, 0x1FFF)
    i = absno >> 6
    segno = 1
    while i:
        segno += 1
        i >>= 1
    code = ((8 - segno) << 4) | (15 - ((absno >> segno) & 0x0F))
    return code | 0x80 if x >= 0 else code


def ref_alaw_compress(x: int) -> int:
    ix = (~x) >> 4 if x < 0 else x >> 4
    if ix > 15:
        iexp = 1
        while ix > 16 + 15:
            ix >>= 1
            iexp += 1
        ix -= 16
        ix += iexp << 4
    if x >= 0:
        ix |= 0x80
    return ix ^ 0x55


def ref_ulaw_expand(code: int) -> int:
    sign = -1 if code < 0x80 else 1
    mantissa = ~code
    exponent = (mantissa >> 4) & 0x07
    step = 4 << (exponent + 1)
    return sign * ((0x80 << exponent) + step * (mantissa & 0x0F) + step // 2 - 4 * 33)


def ref_alaw_expand(code: int) -> int:
    ix = (code ^ 0x55) & 0x7F
    iexp = ix >> 4
    mant = ix & 0x0F
    if iexp > 0:
        mant += 16
    mant = (mant << 4) + 8
    if iexp > 1:
        mant <<= iexp - 1
    return mant if code > 127 else -mant


def pcm(samples: np.ndarray) -> bytes:
    return samples.astype("<i2").tobytes()


@pytest.mark.parametrize(
    ("encode", "reference"),
    [(ulaw_encode, ref_ulaw_compress), (alaw_encode, ref_alaw_compress)],
    ids=["ulaw", "alaw"],
)
def test_encode_matches_reference_for_every_int16(encode, reference) -> None:
    expected = np.array([reference(int(x)) for x in ALL_INT16], dtype=np.uint8)
    got = np.frombuffer(encode(pcm(ALL_INT16)), dtype=np.uint8)
    mismatches = ALL_INT16[got != expected]
    assert mismatches.size == 0, f"{mismatches.size} mismatches, first {mismatches[:8]}"


@pytest.mark.parametrize(
    ("decode", "reference"),
    [(ulaw_decode, ref_ulaw_expand), (alaw_decode, ref_alaw_expand)],
    ids=["ulaw", "alaw"],
)
def test_decode_matches_reference_for_all_256_codes(decode, reference) -> None:
    expected = np.array([reference(c) for c in range(256)], dtype=np.int16)
    got = np.frombuffer(decode(bytes(range(256))), dtype="<i2")
    np.testing.assert_array_equal(got, expected)


def test_silence_codes() -> None:
    assert ulaw_encode(bytes(320)) == b"\xff" * 160
    assert alaw_encode(bytes(320)) == b"\xd5" * 160
    assert np.frombuffer(ulaw_decode(b"\xff\x7f"), "<i2").tolist() == [0, 0]


def test_decoded_values_encode_back_to_their_code() -> None:
    codes = bytes(range(256))
    ulaw_back = ulaw_encode(ulaw_decode(codes))
    # 0x7F is µ-law's "negative zero": it decodes to 0, which encodes as 0xFF.
    assert ulaw_back == codes.replace(b"\x7f", b"\xff")
    assert alaw_encode(alaw_decode(codes)) == codes


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_companding_is_monotonic_and_close(encode, decode) -> None:
    back = np.frombuffer(decode(encode(pcm(ALL_INT16))), "<i2").astype(np.int32)
    assert np.all(np.diff(back) >= 0)
    mid = np.abs(ALL_INT16) < 30000  # beyond that both laws clip at their top level
    rel = np.abs(back - ALL_INT16)[mid] / np.maximum(np.abs(ALL_INT16[mid]), 256)
    assert rel.max() < 1 / 16


def test_encode_is_per_sample_and_little_endian() -> None:
    assert ulaw_encode(b"\x00\x10") == bytes([ref_ulaw_compress(0x1000)])
    assert alaw_encode(b"\x00\x10") == bytes([ref_alaw_compress(0x1000)])


@pytest.mark.parametrize("encode", [ulaw_encode, alaw_encode])
def test_odd_byte_count_is_rejected(encode) -> None:
    with pytest.raises(ValueError, match="even"):
        encode(b"\x00\x00\x00")
