"""Calls the gateway terminates: a fake Twilio and a fake Asterisk against a real server."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import numpy as np
import pytest
import websockets

from gateway.auth import twilio_signature
from gateway.config import Settings

from .client import collect, url
from .peers import AsteriskPeer, TwilioPeer
from .server import serve


@pytest.fixture(scope="module")
def server(piper_engine):
    with serve(Settings(audiosocket_port=1), piper_engine, cache_entries=16) as running:
        yield running


async def wait_for(predicate, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def attach(server, call_id: str = "", **settings):
    ws = await websockets.connect(url(server.ws, call=call_id or None, **settings))
    ready = json.loads(await ws.recv())
    assert ready["type"] == "ready", ready
    return ws, ready


async def test_twilio_call_greeting_app_text_dtmf_barge_in_and_stop(server) -> None:
    peer = TwilioPeer(
        f"{server.ws}/twilio",
        params={"session": "order-42", "greeting": "Thanks for calling. One moment please."},
    )
    async with peer:
        # The greeting plays as soon as the stream starts, with a mark after each sentence.
        await wait_for(lambda: len([e for e in peer.events if e["event"] == "mark"]) >= 2)
        assert all(len(m) == 160 for m in peer.media)
        greeting_frames = len(peer.media)
        await wait_for(lambda: len(peer.echoed) >= 2)

        ws, ready = await attach(server, session="order-42")  # by the `session` alias
        assert ready["call"] == peer.call_sid and ready["carrier"] == "twilio"
        # `ready` describes what the caller gets: the call's own leg, not this socket's query.
        assert ready["settings"]["format"] == "twilio"
        assert ready["settings"]["stream_sid"] == peer.stream_sid
        assert ready["settings"]["encoding"] == "mulaw" and ready["frame_bytes"] == 160
        text = (
            "Your order shipped this morning and should arrive on Thursday afternoon. "
            "Is there anything else I can help you with today?"
        )
        await ws.send(json.dumps({"type": "text", "text": text}))
        got = await collect(ws, until="sentence", limit_s=15)
        assert got.of("sentence")[0]["index"] == 2  # the call counts on from its greeting
        await peer.dtmf("5")
        got = await collect(ws, until="dtmf", limit_s=5)
        assert got.of("dtmf")[0]["digit"] == "5"

        # Barge-in: Twilio is told to clear its buffer; the app learns what was heard.
        await asyncio.sleep(0.6)
        await ws.send(json.dumps({"type": "clear"}))
        got = await collect(ws, until="cleared", limit_s=5)
        heard = got.of("cleared")[0]["heard"]
        assert heard and text.startswith(heard.split(" ")[0])
        await wait_for(lambda: any(e["event"] == "clear" for e in peer.events), 2)
        clear_at = next(i for i, e in enumerate(peer.events) if e["event"] == "clear")
        assert all(e["streamSid"] == peer.stream_sid for e in peer.events)
        sent_before_clear = len(peer.media)
        await asyncio.sleep(0.3)
        assert len(peer.media) <= sent_before_clear + 1  # nothing of the cut answer follows
        assert peer.events[clear_at]["event"] == "clear"

        # Sending stays paced: never more than the lead (400 ms) ahead of real time.
        times = np.array(peer.media_times[greeting_frames:]) - peer.media_times[greeting_frames]
        ahead_ms = np.arange(len(times)) * 20 - times * 1000
        assert ahead_ms.max() < 400 + 60

        await peer.stop()
        got = await collect(ws, limit_s=5)
        assert got.of("call_ended")[0]["reason"] == "stop"
        assert got.of("done")
        await ws.close()
        # Twilio's side gets a close frame (it used to see the socket dropped: 1006).
        await wait_for(lambda: peer.close_code is not None, 5)
        assert peer.close_code == 1000
    await wait_for(lambda: server.gateway.calls.get(peer.call_sid) is None, 3)


async def test_twilio_call_attach_by_call_sid_and_busy_and_unknown(server) -> None:
    peer = TwilioPeer(f"{server.ws}/twilio", call_sid="CA" + "9" * 32, stream_sid="MZ" + "8" * 32)
    async with peer:
        await wait_for(lambda: server.gateway.calls.get(peer.call_sid) is not None, 3)
        ws, ready = await attach(server, peer.stream_sid)  # streamSid works too
        assert ready["call"] == peer.call_sid
        async with websockets.connect(url(server.ws, call=peer.call_sid)) as second:
            err = json.loads(await second.recv())
            assert err["code"] == "call_busy"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await second.recv()
            assert closed.value.rcvd.code == 1008
        await ws.close()
    async with websockets.connect(url(server.ws, call="CA-nope")) as ws:
        err = json.loads(await ws.recv())
        assert err["type"] == "error" and err["code"] == "unknown_call"


async def test_twilio_signature_is_enforced_when_configured(piper_engine) -> None:
    settings = Settings(audiosocket_port=0, twilio_auth_token="s3cret")
    with serve(settings, piper_engine) as srv:
        with pytest.raises(websockets.InvalidStatus) as rejected:
            async with TwilioPeer(f"{srv.ws}/twilio"):
                pass
        assert rejected.value.response.status_code == 403
        # Without a public URL: the scheme and Host the server itself saw.
        host = srv.ws.removeprefix("ws://")
        good = twilio_signature("s3cret", f"ws://{host}/twilio")
        peer = TwilioPeer(f"{srv.ws}/twilio", headers={"X-Twilio-Signature": good})
        async with peer:
            await wait_for(lambda: srv.gateway.calls.get(peer.call_sid) is not None, 3)
        # A forged X-Forwarded-Host cannot make a signature for another URL count.
        other = twilio_signature("s3cret", "wss://evil.example/twilio")
        with pytest.raises(websockets.InvalidStatus):
            headers = {"X-Twilio-Signature": other, "X-Forwarded-Host": "evil.example"}
            async with TwilioPeer(f"{srv.ws}/twilio", headers=headers):
                pass


async def test_twilio_signature_is_checked_against_the_public_url(piper_engine) -> None:
    settings = Settings(
        audiosocket_port=0, twilio_auth_token="s3cret", public_url="wss://voice.example.com"
    )
    with serve(settings, piper_engine) as srv:
        host = srv.ws.removeprefix("ws://")
        # What a client can make the server see (its own Host) no longer counts...
        with pytest.raises(websockets.InvalidStatus):
            signed = {"X-Twilio-Signature": twilio_signature("s3cret", f"ws://{host}/twilio")}
            async with TwilioPeer(f"{srv.ws}/twilio", headers=signed):
                pass
        # ...only the URL Twilio was configured with.
        good = twilio_signature("s3cret", "wss://voice.example.com/twilio")
        peer = TwilioPeer(f"{srv.ws}/twilio", headers={"X-Twilio-Signature": good})
        async with peer:
            await wait_for(lambda: srv.gateway.calls.get(peer.call_sid) is not None, 3)
        # A signature that is not ASCII is refused cleanly, not with a 500.
        with pytest.raises(websockets.InvalidStatus) as rejected:
            async with TwilioPeer(f"{srv.ws}/twilio", headers={"X-Twilio-Signature": "é" * 28}):
                pass
        assert rejected.value.response.status_code == 403


async def test_audiosocket_call_paced_silence_speech_barge_in_dtmf_hangup(server) -> None:
    async with AsteriskPeer(server.audiosocket_port) as peer:
        # Idle: silence frames keep flowing in real time so Asterisk never times out.
        await asyncio.sleep(1.0)
        idle = list(peer.frame_times)
        assert all(len(f) == 320 for f in peer.frames)
        assert not peer.speech_frames()
        span = idle[-1] - idle[0]
        assert 0.85 < (len(idle) - 1) * 0.02 / span < 1.15  # 50 frames per second

        ws, ready = await attach(server, peer.call_id)
        assert ready["carrier"] == "audiosocket" and ready["frame_bytes"] == 320
        assert ready["settings"]["format"] == "audiosocket"
        assert (ready["settings"]["encoding"], ready["settings"]["sample_rate"]) == ("pcm16", 8000)
        text = "Please listen carefully, as our menu options have changed recently."
        await ws.send(json.dumps({"type": "text", "text": text}))
        await wait_for(lambda: len(peer.speech_frames()) >= 50, 10)
        # Speech is paced in real time too: one 320-byte frame every 20 ms.
        t = np.array(peer.frame_times[-40:])
        assert 0.85 < 39 * 0.02 / (t[-1] - t[0]) < 1.15

        await peer.dtmf("7")
        got = await collect(ws, until="dtmf", limit_s=5)
        assert got.of("dtmf")[0]["digit"] == "7"

        await ws.send(json.dumps({"type": "clear"}))
        got = await collect(ws, until="cleared", limit_s=5)
        cut = len(peer.frames)
        heard = got.of("cleared")[0]["heard"]
        assert heard and text.startswith(heard.split(" ")[0])
        await asyncio.sleep(0.3)
        after = peer.frames[cut:]
        assert len(after) >= 10  # the stream goes on...
        assert sum(1 for f in after if any(f)) <= 1  # ...as silence, within one frame

        await peer.hangup()
        got = await collect(ws, limit_s=5)
        assert got.of("call_ended")[0]["reason"] == "hangup"
        await ws.close()
    await wait_for(lambda: server.gateway.calls.get(peer.call_id) is None, 3)


@pytest.mark.parametrize(
    ("greeting", "spoken", "logged"),
    [
        pytest.param(
            " ".join(f"Sentence number {n} is here." for n in ("one", "two", "three", "four")),
            [f"Sentence number {n} is here." for n in ("one", "two", "three")],
            "greeting cut to 88 characters and 3 sentences",
            id="characters",
        ),
        pytest.param(
            "One. Two. Three. Four. Five. Six.",
            ["One.", "Two.", "Three.", "Four."],
            "greeting cut to 33 characters and 4 sentences",
            id="sentences",
        ),
    ],
)
async def test_a_greeting_is_cut_to_its_character_and_sentence_caps(
    greeting, spoken, logged, caplog
) -> None:
    from .test_tenants import RecordingEngine

    caplog.set_level(logging.WARNING, logger="gateway.carriers.twilio")
    engine = RecordingEngine(rtf=0.0)
    settings = Settings(
        engine="sim", audiosocket_port=0, max_greeting_chars=100, max_queued_sentences=4
    )
    with serve(settings, engine) as srv:
        peer = TwilioPeer(f"{srv.ws}/twilio", params={"greeting": greeting})
        async with peer:
            # A mark follows each sentence; after the last one nothing else is queued.
            await wait_for(lambda: len(peer.echoed) >= len(spoken), 20)
            call = srv.gateway.calls.get(peer.call_sid)
            assert call is not None and call.pipeline.idle
            assert engine.order == spoken
    assert logged in [r.getMessage() for r in caplog.records]
