"""Streaming audio containers: PCM in as it renders, file bytes out as they are ready.

The OpenAI speech API answers in a file format (`wav`, `flac`, `mp3`, `opus`
in Ogg, `aac` in ADTS) or raw samples (`pcm`, and voxgate's `ulaw`/`alaw`).
A caller streaming the answer wants the first bytes when the first sentence
has rendered, not when the whole text has, so every encoder here is
incremental: `feed` takes 16-bit little-endian mono PCM and returns whatever
encoded bytes are complete, `finish` flushes the codec and the muxer.

The codecs come from PyAV (the FFmpeg libraries in a maintained wheel: LAME
for MP3, libopus, FFmpeg's own AAC and FLAC encoders), written to a sink that
cannot seek, so the muxers write streaming headers (FLAC's STREAMINFO without
a total, Ogg pages as they fill). WAV is written here: a header whose sizes
say "unknown" (0xFFFFFFFF), as streaming servers send, which `soundfile`,
FFmpeg and browsers read to the end of the data.

Sans-I/O: bytes in, bytes out; nothing here knows about HTTP.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = [
    "CONTAINERS",
    "Container",
    "ContainerEncoder",
    "container_available",
    "make_container_encoder",
    "wav_stream_header",
]

_UNKNOWN = 0xFFFFFFFF


@dataclass(frozen=True)
class Container:
    """One response format: its MIME type and how it is written."""

    name: str
    media_type: str
    muxer: str | None = None  # PyAV muxer; None for raw samples and WAV
    codec: str | None = None
    bit_rate: int | None = None


CONTAINERS: dict[str, Container] = {
    "pcm": Container("pcm", "audio/pcm"),
    "wav": Container("wav", "audio/wav"),
    "flac": Container("flac", "audio/flac", "flac", "flac"),
    "mp3": Container("mp3", "audio/mpeg", "mp3", "libmp3lame", 64000),
    "opus": Container("opus", "audio/ogg", "ogg", "libopus", 32000),
    "aac": Container("aac", "audio/aac", "adts", "aac", 64000),
}


class ContainerEncoder(Protocol):
    def feed(self, pcm16le: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


def container_available(name: str) -> str | None:
    """None if `name` can be encoded here, else why not (a missing codec library)."""
    container = CONTAINERS[name]
    if container.codec is None:
        return None
    try:
        import av

        av.codec.Codec(container.codec, "w")
    except Exception as exc:  # ImportError, or an FFmpeg build without the codec
        return f"{name} needs PyAV with the {container.codec} encoder ({exc})"
    return None


def wav_stream_header(sample_rate: int, width: int = 2, tag: int = 1) -> bytes:
    """A mono WAV header for a stream of unknown length (RIFF and data sizes 0xFFFFFFFF)."""
    fmt = struct.pack("<HHIIHH", tag, 1, sample_rate, sample_rate * width, width, 8 * width)
    return (
        b"RIFF" + struct.pack("<I", _UNKNOWN) + b"WAVE"
        + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"data" + struct.pack("<I", _UNKNOWN)
    )  # fmt: skip


class RawEncoder:
    """Samples as they are (`pcm`, `ulaw`, `alaw`), optionally after a WAV header."""

    def __init__(self, header: bytes = b"") -> None:
        self._header = header

    def feed(self, pcm16le: bytes) -> bytes:
        out, self._header = self._header + pcm16le, b""
        return out

    def finish(self) -> bytes:
        out, self._header = self._header, b""
        return out


class _Sink:
    """A write-only, non-seekable file for PyAV: what the muxer wrote since the last take."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self._buf += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class AvEncoder:
    """One PyAV output container with one mono audio stream."""

    def __init__(self, container: Container, sample_rate: int) -> None:
        import av

        assert container.muxer and container.codec
        self._av = av
        self._rate = sample_rate
        self._sink = _Sink()
        options = {"flush_packets": "1"}
        if container.muxer == "ogg":
            options["page_duration"] = "20000"  # a page per 20 ms, not per second
        self._out: Any = av.open(self._sink, "w", format=container.muxer, options=options)
        stream: Any = self._out.add_stream(container.codec, rate=sample_rate)
        stream.layout = "mono"
        if container.bit_rate:
            stream.bit_rate = container.bit_rate
        self._stream = stream
        self._resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout="mono", rate=sample_rate
        )
        self._done = False

    def _mux(self, frames: Any) -> None:
        for frame in frames:
            for packet in self._stream.encode(frame):
                self._out.mux(packet)

    def feed(self, pcm16le: bytes) -> bytes:
        if not pcm16le:
            return b""
        samples = np.frombuffer(pcm16le, dtype="<i2").reshape(1, -1)
        frame = self._av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = self._rate
        self._mux(self._resampler.resample(frame))
        return self._sink.take()

    def finish(self) -> bytes:
        if self._done:
            return b""
        self._done = True
        self._mux(self._resampler.resample(None))
        for packet in self._stream.encode(None):
            self._out.mux(packet)
        self._out.close()
        return self._sink.take()


def make_container_encoder(
    name: str, sample_rate: int, *, width: int = 2, bit_rate: int | None = None
) -> ContainerEncoder:
    """An encoder for response format `name` (a key of `CONTAINERS`) at `sample_rate`."""
    container = CONTAINERS[name]
    if bit_rate is not None:
        container = dataclasses.replace(container, bit_rate=bit_rate)
    if name == "pcm":
        return RawEncoder()
    if name == "wav":
        return RawEncoder(wav_stream_header(sample_rate, width))
    return AvEncoder(container, sample_rate)
