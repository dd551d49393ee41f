"""End to end over a real uvicorn server and the `websockets` client: /v1/speak."""

from __future__ import annotations

import asyncio
import base64
import json
import struct

import numpy as np
import pytest
import websockets

from gateway.config import Settings
from telephony.media import MediaFormat, UtteranceEncoder
from tts_core import SynthesisRequest

from .client import collect, decode, pieces, speak, url
from .server import serve

TEXT = (
    "Dr. Smith called at 3 p.m. to confirm. The balance is $3.50 for the U.S.A. office. "
    "Thank you for calling!"
)
SENTENCES = [
    "Dr. Smith called at 3 p.m. to confirm.",
    "The balance is $3.50 for the U.S.A. office.",
    "Thank you for calling!",
]


@pytest.fixture(scope="module")
def server(piper_engine):
    with serve(Settings(audiosocket_port=0), piper_engine, cache_entries=64) as running:
        yield running


def expected_frames(
    server, text: str | SynthesisRequest, fmt: MediaFormat | None = None
) -> list[bytes]:
    """Frames the gateway must have sent for `text`, from the exact PCM it synthesized."""
    core = server.gateway.core
    fmt = fmt or MediaFormat()
    request = text if isinstance(text, SynthesisRequest) else None
    request = request or SynthesisRequest(text, "en_US-joe-medium", "en-us", locale="en-US")
    pcm = core.cache.get(core.cache_key(request))
    assert pcm is not None, f"{text!r} was not synthesized"
    encoder = UtteranceEncoder(core.sample_rate, fmt)
    return encoder.feed(pcm) + encoder.finish()


async def test_token_stream_becomes_sentences_and_exact_mulaw_frames(server) -> None:
    got = await speak(server.ws, pieces(TEXT, 3))
    assert [e["text"] for e in got.of("sentence")] == SENTENCES
    ends = got.of("sentence_end")
    assert [e["index"] for e in ends] == [0, 1, 2]
    assert all(len(f) == 160 for f in got.frames)
    # Every frame the engine's audio produced arrived, in order, byte for byte.
    fmt = MediaFormat("mulaw", 8000, 20)
    expected = [f for s in SENTENCES for f in expected_frames(server, s, fmt)]
    assert got.frames == expected
    assert sum(e["audio_ms"] for e in ends) == 20 * len(got.frames)
    for e in ends:
        assert e["synth_ms"] >= 0 and e["queue_ms"] >= 0 and e["ttfa_ms"] >= 0
    # Decoded, it is speech of a plausible length: ~15 words/5 s at 110-250 wpm.
    pcm = decode(got.frames, "mulaw")
    seconds = len(pcm) / 8000
    words = len(TEXT.split())
    assert words / 250 * 60 < seconds < words / 110 * 60 + 1.5
    rms = np.sqrt(np.mean((pcm / 32768.0) ** 2))
    assert 20 * np.log10(rms) > -30
    assert got.of("done") and got.close_code in (None, 1000)


@pytest.mark.parametrize(
    ("settings", "frame_len"),
    [
        ({"encoding": "alaw"}, 160),
        ({"encoding": "pcm16", "sample_rate": 16000}, 640),
        ({"encoding": "pcm16", "sample_rate": 24000, "frame_ms": 40}, 1920),
        ({"encoding": "mulaw", "frame_ms": 30}, 240),
    ],
)
async def test_binary_frame_sizes_per_encoding(server, settings, frame_len) -> None:
    got = await speak(server.ws, pieces("Your call is important to us.", 5), **settings)
    assert got.frames and all(len(f) == frame_len for f in got.frames)
    fmt = MediaFormat(
        settings["encoding"], settings.get("sample_rate", 8000), settings.get("frame_ms", 20)
    )
    assert got.frames == expected_frames(server, "Your call is important to us.", fmt)


async def test_json_format_carries_sequenced_base64_frames(server) -> None:
    got = await speak(server.ws, ["Press one for billing."], format="json", encoding="alaw")
    audio = [json.loads(t) for t in got.texts]
    assert [a["seq"] for a in audio] == list(range(len(audio)))
    # Unpaced, the frames due together travel together; the bytes are the same frames.
    payload = b"".join(base64.b64decode(a["payload"]) for a in audio)
    expected = expected_frames(server, "Press one for billing.", MediaFormat("alaw"))
    assert payload == b"".join(expected)
    assert len(audio) < len(expected)
    # Paced in real time, each message is one frame.
    got = await speak(
        server.ws, ["Press one for billing."], format="json", encoding="alaw", lead_ms=200
    )
    frames = [base64.b64decode(json.loads(t)["payload"]) for t in got.texts]
    assert frames == expected


async def test_twilio_format_is_ready_to_forward(server) -> None:
    got = await speak(
        server.ws,
        pieces("Please hold. Transferring you now.", 6),
        format="twilio",
        stream_sid="MZ0123456789abcdef",
    )
    messages = [json.loads(t) for t in got.texts]
    media = [m for m in messages if m["event"] == "media"]
    marks = [m for m in messages if m["event"] == "mark"]
    assert {m["streamSid"] for m in messages} == {"MZ0123456789abcdef"}
    assert all(set(m) == {"event", "streamSid", "media"} for m in media)
    payloads = [base64.b64decode(m["media"]["payload"]) for m in media]
    expected = expected_frames(server, "Please hold.", MediaFormat()) + expected_frames(
        server, "Transferring you now.", MediaFormat()
    )
    assert payloads == expected
    # One mark per sentence, placed right after that sentence's last frame.
    assert len(marks) == 2
    first_mark = messages.index(marks[0])
    assert sum(m["event"] == "media" for m in messages[:first_mark]) == len(
        expected_frames(server, "Please hold.", MediaFormat())
    )


@pytest.mark.parametrize(("rate", "kind"), [(8000, 0x10), (16000, 0x12)])
async def test_audiosocket_format_messages(server, rate, kind) -> None:
    got = await speak(
        server.ws, ["Goodbye."], format="audiosocket", encoding="pcm16", sample_rate=rate
    )
    size = rate // 50 * 2
    for msg in got.frames:
        assert msg[0] == kind and struct.unpack(">H", msg[1:3])[0] == size and len(msg) == size + 3
    assert [m[3:] for m in got.frames] == expected_frames(
        server, "Goodbye.", MediaFormat("pcm16", rate)
    )


async def test_start_message_settings_and_ready_event(server) -> None:
    async with websockets.connect(url(server.ws)) as ws:
        first = json.loads(await ws.recv())  # on connect: the query string's (default) settings
        assert first["type"] == "ready" and first["settings"]["encoding"] == "mulaw"
        await ws.send(
            json.dumps({"type": "start", "encoding": "pcm16", "sample_rate": 16000, "frame_ms": 20})
        )
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready"
        assert ready["settings"]["encoding"] == "pcm16" and ready["frame_bytes"] == 640
        assert ready["settings"]["voice"] == "en_US-joe-medium"
        assert ready["limits"]["max_message_bytes"] > 0
        await ws.send(json.dumps({"type": "start"}))
        err = json.loads(await ws.recv())
        assert err["type"] == "error" and err["code"] == "already_started"
        await ws.send(json.dumps({"type": "text", "text": "Hi there."}))
        await ws.send(json.dumps({"type": "close"}))
        got = await collect(ws)
        assert got.frames and all(len(f) == 640 for f in got.frames)


async def test_unterminated_text_is_spoken_after_bounded_wait(server) -> None:
    async with websockets.connect(url(server.ws, format="binary")) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "text", "text": "no full stop here"}))
        got = await collect(ws, until="sentence_end", limit_s=10)
        assert got.of("sentence")[0]["text"] == "no full stop here"
        assert got.frames


async def test_flush_answers_after_last_frame_and_mark_after_playout(server) -> None:
    async with websockets.connect(url(server.ws, lead_ms=100)) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "text", "text": "One more thing"}))
        await ws.send(json.dumps({"type": "flush"}))
        await ws.send(json.dumps({"type": "mark", "name": "m1"}))
        await ws.send(json.dumps({"type": "close"}))
        got = await collect(ws)
        kinds = [e["type"] for e in got.events]
        assert kinds.index("flushed") > kinds.index("sentence_end")
        assert got.of("mark") == [{"type": "mark", "name": "m1", "played": True}]
        # The mark waits for playout: it arrives about one utterance after the first frame.
        audio_s = len(got.frames) * 0.02
        assert audio_s > 0.5
        assert kinds[-1] == "done"


async def test_clear_stops_audio_and_reports_heard_text(server) -> None:
    long_text = (
        "This is the first sentence of a long answer that keeps going for a while. "
        "This second sentence should never be heard by anyone at all. "
        "Nor should this third one."
    )
    async with websockets.connect(url(server.ws, lead_ms=0)) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "text", "text": long_text}))
        frames = 0
        while frames < 60:  # 1.2 s of the first sentence
            if isinstance(await ws.recv(), bytes):
                frames += 1
        await ws.send(json.dumps({"type": "clear"}))
        after = await collect(ws, until="cleared", limit_s=5)
        cleared = after.of("cleared")[0]
        heard = cleared["heard"].split()
        first_words = long_text.split()
        assert 0 < len(heard) < 14 and heard == first_words[: len(heard)]
        # What was not heard is reported too: the rest of the first sentence and the
        # sentences still queued (this used to come back empty).
        assert cleared["dropped_text"].split() == first_words[len(heard) :]
        assert len(after.frames) <= 1  # at most the frame already on its way
        # Nothing of the old answer follows; a new one plays normally.
        await ws.send(json.dumps({"type": "text", "text": "Sure, go ahead."}))
        await ws.send(json.dumps({"type": "close"}))
        rest = await collect(ws)
        assert [e["text"] for e in rest.of("sentence")] == ["Sure, go ahead."]
        assert rest.frames == expected_frames(server, "Sure, go ahead.", MediaFormat())


async def test_client_vanishing_mid_sentence_leaves_nothing_behind(server) -> None:
    for _ in range(5):
        ws = await websockets.connect(url(server.ws, lead_ms=0))
        await ws.recv()
        await ws.send(json.dumps({"type": "text", "text": TEXT}))
        while not isinstance(await ws.recv(), bytes):
            pass
        ws.transport.abort()  # no close frame: the TCP connection just drops
    gw = server.gateway
    for _ in range(200):
        if not gw.sessions and not server.pipeline_tasks():
            break
        await asyncio.sleep(0.025)
    assert not gw.sessions
    assert server.pipeline_tasks() == []
    gw.refresh_gauges()
    assert gw.metrics.sessions._value.get() == 0


async def test_numbers_are_spoken_as_words_and_events_keep_the_client_text(server) -> None:
    text = "Your balance is $42.50 as of 12/03/2026."
    on = await speak(server.ws, [text], language="en-GB")
    assert [e["text"] for e in on.of("sentence")] == [text]  # the client's own words
    assert on.events[0]["settings"]["normalize"] == "on"
    assert on.events[0]["locale"] == "en-GB"
    # What was synthesized is the spoken form, read by the session's locale.
    core = server.gateway.core
    gb = SynthesisRequest(text, "en_US-joe-medium", "en-us", locale="en-GB")
    assert core.speakable(gb).text == (
        "Your balance is forty-two dollars and fifty cents"
        " as of the twelfth of March twenty twenty-six."
    )
    us = SynthesisRequest(text, "en_US-joe-medium", "en-us", locale="en-US")
    assert "December third" in core.speakable(us).text
    assert on.frames == expected_frames(server, gb)
    off = await speak(server.ws, [text], normalize="off")
    assert off.events[0]["settings"]["normalize"] == "off"
    assert len(on.frames) != len(off.frames)  # the raw symbols are read differently
    some = await speak(server.ws, [text], normalize="dates,times")
    assert some.events[0]["settings"]["normalize"] == "times,dates"


async def test_a_bad_normalize_setting_names_the_field(server) -> None:
    async with websockets.connect(url(server.ws, normalize="numbers,dollars")) as ws:
        event = json.loads(await ws.recv())
    assert event["code"] == "invalid_setting" and event["field"] == "normalize"
    assert "dollars" in event["message"]


async def test_a_client_far_ahead_that_closes_gets_a_prompt_clean_close(server) -> None:
    """lead_ms >= 1000: a client that stops reading and closes used to wait 10 s (its
    close timeout) behind its own unread frames, then end in 1006."""
    for lead in (1000, 5000, 60_000):
        ws = await websockets.connect(url(server.ws, lead_ms=lead))
        ready = json.loads(await ws.recv())
        assert ready["frames_per_message"] > 1  # far ahead: frames due together travel together
        await ws.send(json.dumps({"type": "text", "text": TEXT}))
        while not isinstance(await ws.recv(), bytes):
            pass
        loop = asyncio.get_running_loop()
        started = loop.time()
        await ws.close()
        assert ws.close_code == 1000
        assert loop.time() - started < 2.0  # the client's close_timeout is 10 s
    async with websockets.connect(url(server.ws, lead_ms=200)) as ws:
        assert json.loads(await ws.recv())["frames_per_message"] == 1  # real time: one per message


async def test_regional_english_on_the_english_voice_is_spoken(server) -> None:
    """en-GB was answered with `ready`, then every sentence failed with invalid_request."""
    got = await speak(server.ws, ["Good morning, London."], language="en-GB")
    ready = got.events[0]
    assert ready["settings"]["language"] == "en-us" and ready["locale"] == "en-GB"
    assert not got.of("error") and got.frames
    async with websockets.connect(url(server.ws, language="ja")) as ws:
        refused = json.loads(await ws.recv())  # refused up front, not sentence by sentence
    assert refused["code"] == "invalid_setting" and refused["field"] == "language"


async def test_an_overlong_sentence_is_cut_at_a_clause_before_synthesis(server) -> None:
    clause = "and the next available agent will be with you as soon as possible"
    text = "Thank you for calling, " + ", ".join([clause] * 6) + "."
    assert len(text) > 390
    got = await speak(server.ws, [text])
    spoken = [e["text"] for e in got.of("sentence")]
    limit = server.gateway.settings.max_sentence_chars
    assert len(spoken) >= 2 and all(len(s) <= limit for s in spoken)
    assert all(s.endswith((",", ".")) for s in spoken)  # cut at clause marks, not mid-phrase
    assert " ".join(spoken) == text
