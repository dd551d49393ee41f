"""AudioSocket TLV codec: every kind, any TCP segmentation, typed errors, encoders."""

from __future__ import annotations

import struct
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.carriers.audiosocket import (
    Audio,
    AudioSocketParser,
    AudioSocketProtocolError,
    Dtmf,
    Error,
    Hangup,
    Kind,
    Unknown,
    Uuid,
    encode_audio,
    encode_hangup,
)
from telephony.errors import ProtocolError

CALL_ID = uuid.UUID("40325ec2-5efd-4bd3-805f-53576e581d13")


def tlv(kind: int, payload: bytes = b"") -> bytes:
    """Written independently of the encoder: what Asterisk puts on the wire."""
    return struct.pack(">BH", kind, len(payload)) + payload


def test_every_kind_parses() -> None:
    stream = (
        tlv(0x01, CALL_ID.bytes)
        + tlv(0x10, b"\x01\x00\xff\xff")
        + tlv(0x12, b"\x02\x00" * 3)
        + tlv(0x03, b"#")
        + tlv(0xFF, b"\x01")
        + tlv(0xFF)
        + tlv(0x42, b"xyz")
        + tlv(0x00)
    )
    assert AudioSocketParser().feed(stream) == [
        Uuid(str(CALL_ID)),
        Audio(b"\x01\x00\xff\xff", 8000),
        Audio(b"\x02\x00" * 3, 16000),
        Dtmf("#"),
        Error(1),
        Error(None),
        Unknown(0x42, b"xyz"),
        Hangup(),
    ]


def test_uuid_string_form_matches_asterisk() -> None:
    (msg,) = AudioSocketParser().feed(tlv(0x01, CALL_ID.bytes))
    assert msg == Uuid("40325ec2-5efd-4bd3-805f-53576e581d13")


def test_partial_header_and_payload_wait_for_more() -> None:
    parser = AudioSocketParser()
    data = tlv(0x10, bytes(320))
    assert parser.feed(data[:1]) == []
    assert parser.feed(data[1:2]) == []
    assert parser.feed(data[2:100]) == []
    assert parser.pending == 100
    assert parser.feed(data[100:]) == [Audio(bytes(320), 8000)]
    assert parser.pending == 0


def test_max_length_payload() -> None:
    payload = bytes(65534)
    assert AudioSocketParser().feed(tlv(0x10, payload)) == [Audio(payload, 8000)]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (tlv(0x01, b"short"), "bad_uuid"),
        (tlv(0x03, b""), "bad_dtmf"),
        (tlv(0x03, b"12"), "bad_dtmf"),
        (tlv(0x10, b"\x00\x00\x00"), "bad_audio"),
    ],
)
def test_malformed_payloads_raise_and_poison_the_parser(data: bytes, code: str) -> None:
    parser = AudioSocketParser()
    good = tlv(0x01, CALL_ID.bytes)
    with pytest.raises(AudioSocketProtocolError) as info:
        parser.feed(good + data + tlv(0x00))
    assert info.value.code == code
    assert isinstance(info.value, ProtocolError)
    assert info.value.messages == [Uuid(str(CALL_ID))]
    with pytest.raises(AudioSocketProtocolError):
        parser.feed(tlv(0x00))


def test_eof_mid_message_is_an_error_and_clean_eof_is_not() -> None:
    parser = AudioSocketParser()
    parser.feed(tlv(0x00))
    parser.eof()
    parser.feed(tlv(0x10, bytes(320))[:50])
    with pytest.raises(AudioSocketProtocolError) as info:
        parser.eof()
    assert info.value.code == "closed_mid_message"


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, object]:
    kind = draw(st.sampled_from(["uuid", "dtmf", "slin", "slin16", "hangup", "error", "unknown"]))
    if kind == "uuid":
        raw = draw(st.binary(min_size=16, max_size=16))
        return tlv(0x01, raw), Uuid(str(uuid.UUID(bytes=raw)))
    if kind == "dtmf":
        d = draw(st.sampled_from("0123456789*#ABCD"))
        return tlv(0x03, d.encode()), Dtmf(d)
    if kind in ("slin", "slin16"):
        n = draw(st.integers(0, 400)) * 2
        pcm = draw(st.binary(min_size=n, max_size=n))
        return tlv(0x10 if kind == "slin" else 0x12, pcm), Audio(
            pcm, 8000 if kind == "slin" else 16000
        )
    if kind == "hangup":
        return tlv(0x00), Hangup()
    if kind == "error":
        code = draw(st.none() | st.integers(0, 255))
        return tlv(0xFF, b"" if code is None else bytes([code])), Error(code)
    k = draw(st.sampled_from([0x02, 0x04, 0x20, 0x7F, 0xFE]))
    payload = draw(st.binary(max_size=50))
    return tlv(k, payload), Unknown(k, payload)


@settings(max_examples=200, deadline=None)
@given(msgs=st.lists(messages(), max_size=30), data=st.data())
def test_any_tcp_segmentation_yields_the_same_messages(msgs, data) -> None:
    stream = b"".join(wire for wire, _ in msgs)
    expected = [m for _, m in msgs]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=40)))
    parser = AudioSocketParser()
    got = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        got += parser.feed(stream[prev:cut])
        prev = cut
    assert got == expected
    assert parser.pending == 0
    parser.eof()


def test_encode_audio_8k_and_16k() -> None:
    pcm = bytes(range(256)) + bytes(64)
    assert encode_audio(pcm) == b"\x10\x01\x40" + pcm
    assert encode_audio(pcm, 16000) == b"\x12\x01\x40" + pcm
    assert encode_audio(b"") == b""


@pytest.mark.parametrize("rate", [12000, 24000, 22050])
def test_encode_audio_rejects_other_rates(rate: int) -> None:
    with pytest.raises(ValueError, match="8000 or 16000"):
        encode_audio(bytes(320), rate)


def test_encode_audio_rejects_odd_length() -> None:
    with pytest.raises(ValueError, match="even"):
        encode_audio(bytes(3))


def test_large_audio_is_split_into_sample_aligned_messages() -> None:
    pcm = bytes(i % 251 for i in range(200_000))
    wire = encode_audio(pcm)
    parsed = AudioSocketParser().feed(wire)
    assert all(isinstance(m, Audio) and len(m.pcm) % 2 == 0 for m in parsed)
    assert all(len(m.pcm) <= 0xFFFF for m in parsed)
    assert b"".join(m.pcm for m in parsed) == pcm


def test_hangup() -> None:
    assert encode_hangup() == b"\x00\x00\x00"
    assert AudioSocketParser().feed(encode_hangup()) == [Hangup()]


@settings(max_examples=50, deadline=None)
@given(pcm=st.binary(max_size=140_000), rate=st.sampled_from([8000, 16000]))
def test_encoder_only_emits_audio_kinds(pcm: bytes, rate: int) -> None:
    pcm = pcm[: len(pcm) // 2 * 2]
    wire = encode_audio(pcm, rate)
    pos, kinds = 0, set()
    while pos < len(wire):
        kind, length = struct.unpack_from(">BH", wire, pos)
        kinds.add(kind)
        pos += 3 + length
    assert kinds <= {Kind.SLIN, Kind.SLIN16}
