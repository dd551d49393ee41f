"""What only some carriers have: A-law and wideband legs, chan_websocket's forms and flow control.

A-law end to end where the leg is A-law (a European PSTN leg on Telnyx, an
Asterisk channel dialled with `c(alaw)`): the caller is decoded as A-law,
not as µ-law static, and speech goes out as the exact A-law bytes. Telnyx L16
is big-endian on the wire. chan_websocket's plain-text control form works as
its JSON form does, and its MEDIA_XOFF holds audio back until MEDIA_XON.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from telephony.media import MediaFormat

from .peers import peer
from .peers.asterisk import PlainPeer
from .peers.base import TONE_HZ
from .support import attach, dominant_hz, expected_speech, wait_until
from .test_every_carrier import quiesced, start_server

ALAW = MediaFormat("alaw", 8000, 20)


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with start_server() as running:
        yield running


def sine_likeness(pcm16: bytes, rate: int) -> float:
    """How much of the signal's energy is the caller's tone (1.0: a pure tone)."""
    x = np.frombuffer(pcm16, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    near = np.abs(freqs - TONE_HZ) < 30
    return float(spectrum[near].sum() / spectrum.sum())


async def speaks_and_listens(server: Any, carrier: Any, fmt: MediaFormat) -> None:
    app = await attach(server.ws, call=carrier.call_id, encoding="pcm16", sample_rate=16000)
    await wait_until(lambda: len(app.frames) >= 30, 10, "caller audio")
    heard = b"".join(f for _, f in app.frames[5:30])
    assert abs(dominant_hz(heard, 16000) - TONE_HZ) < 10
    assert sine_likeness(heard, 16000) > 0.9  # decoded with the right law: a clean tone
    text = "Guten Tag, wie kann ich helfen?"
    await app.send(type="text", text=text)
    await app.send(type="flush")
    await app.first("flushed", limit_s=15)
    await wait_until(lambda: expected_speech(text, fmt) in bytes(carrier.audio), 5, "speech")
    await app.close()


@pytest.mark.parametrize("name", ["telnyx", "asterisk"])
async def test_an_a_law_leg_is_a_law_end_to_end(server, name) -> None:
    Peer = peer(name)
    async with Peer(server, Peer.new_id(), fmt=ALAW) as carrier:
        await speaks_and_listens(server, carrier, ALAW)
    await quiesced(server)


async def test_a_telnyx_l16_leg_is_big_endian_on_the_wire(server) -> None:
    Peer = peer("telnyx")
    fmt = MediaFormat("pcm16", 16000, 20)
    query = {"codec": "L16", "rate": "16000"}
    async with Peer(server, Peer.new_id(), fmt=fmt, query=query) as carrier:
        await speaks_and_listens(server, carrier, fmt)
    await quiesced(server)


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_vonage_at_either_rate(server, rate) -> None:
    Peer = peer("vonage")
    fmt = MediaFormat("pcm16", rate, 20)
    async with Peer(server, Peer.new_id(), fmt=fmt) as carrier:
        await speaks_and_listens(server, carrier, fmt)
    await quiesced(server)


async def test_chan_websocket_in_its_plain_text_form(server) -> None:
    async with PlainPeer(server, PlainPeer.new_id(), params={"session": "plain-1"}) as carrier:
        app = await attach(server.ws, session="plain-1", listen=0)
        await carrier.press("9")
        assert (await app.first("dtmf"))["digit"] == "9"
        await app.send(type="text", text="One moment.")
        await app.first("sentence_end", limit_s=15)
        await wait_until(lambda: "voxgate-s0" in carrier.acked, 5, "MEDIA_MARK_PROCESSED")
        assert "MARK_MEDIA" in carrier.commands
        await app.send(type="clear")
        await app.first("cleared")
        await app.send(type="hangup")
        assert (await app.first("call_ended"))["reason"] == "app_hangup"
        await wait_until(carrier.hung_up_by_gateway.is_set, 5, "HANGUP")
        assert carrier.commands[-2:] == ["FLUSH_MEDIA", "HANGUP"]
        await app.close()
    await quiesced(server)


async def test_chan_websocket_flow_control_holds_audio_back(server) -> None:
    Peer = peer("asterisk")
    async with Peer(server, Peer.new_id()) as carrier:
        app = await attach(server.ws, call=carrier.call_id, listen=0)
        await carrier.xoff(True)
        long = " ".join(f"Sentence {n} goes on for a while here." for n in range(8))
        await app.send(type="text", text=long)
        await app.first("sentence", limit_s=15)
        await asyncio.sleep(0.5)
        held = len(carrier.audio)
        assert held <= carrier.fmt.frame_bytes * 50  # at most one batch in flight at the XOFF
        await asyncio.sleep(0.3)
        assert len(carrier.audio) == held  # nothing more while paused
        await carrier.xoff(False)
        await wait_until(lambda: len(carrier.audio) > held + 8000, 5, "audio after MEDIA_XON")
        await app.send(type="clear")
        await app.close()
    await quiesced(server)
