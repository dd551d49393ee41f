"""Speakable text through every door (SPEC §8): what reaches the engine, what the client hears.

A real server, the real carriers' wire protocols (fake Twilio, fake Asterisk) and
the sim engine, wrapped so the test sees the text each sentence reaches it with:
the cause, rather than a guess from audio lengths. The sim engine's audio is as
long as that text (65 ms per character), which is what `cleared.heard` must be
mapped back from.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest
import websockets

from gateway.config import Settings
from tts_core import SynthesisRequest
from tts_core.sim_engine import SimulatedEngine

from .client import collect, speak, url
from .peers import AsteriskPeer, TwilioPeer
from .server import serve

TEXT = "Your balance is $42.50 as of 12/03/2026 at 3:30 pm."
AMOUNT = "forty-two dollars and fifty cents"
DATE = "December third, twenty twenty-six"
TIME = "three thirty p m"
SPOKEN = f"Your balance is {AMOUNT} as of {DATE} at {TIME}."


class HeardEngine(SimulatedEngine):
    """The sim engine, noting each text it is asked to speak."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def synthesize(self, request: SynthesisRequest) -> Iterator[np.ndarray]:
        with self._lock:
            self.texts.append(request.text)
        return super().synthesize(request)

    def take(self) -> list[str]:
        with self._lock:
            texts, self.texts = self.texts, []
        return texts


@pytest.fixture(scope="module")
def engine() -> HeardEngine:
    return HeardEngine()


@pytest.fixture(scope="module")
def server(engine: HeardEngine):
    with serve(Settings(engine="sim", audiosocket_port=1), engine) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(engine: HeardEngine) -> None:
    engine.take()


async def until(predicate: Callable[[], bool], limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def heard_by_engine(engine: HeardEngine, count: int = 1) -> list[str]:
    seen: list[str] = []

    def enough() -> bool:
        seen.extend(engine.take())
        return len(seen) >= count

    await until(enough)
    return seen


# -- /v1/speak -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "spoken"),
    [
        ("on", SPOKEN),
        ("off", TEXT),
        ("currency", f"Your balance is {AMOUNT} as of 12/03/2026 at 3:30 pm."),
        ("dates,times", f"Your balance is $42.50 as of {DATE} at {TIME}."),
        ('["times"]', "Your balance is $42.50 as of 12/03/2026 at three thirty p m."),
        ("-currency", f"Your balance is $42.50 as of {DATE} at {TIME}."),  # not "$forty-two"
    ],
)
async def test_a_list_of_categories_changes_what_is_spoken(
    server, engine: HeardEngine, setting: str, spoken: str
) -> None:
    got = await speak(server.ws, [TEXT], normalize=setting, language="en-US")
    assert engine.take() == [spoken]
    assert [e["text"] for e in got.of("sentence")] == [TEXT]  # the client's own words
    assert not got.of("error")


@pytest.mark.parametrize(
    "output",
    [{"format": "binary"}, {"format": "json"}, {"format": "twilio", "stream_sid": "MZ" + "7" * 32},
     {"format": "audiosocket", "encoding": "pcm16"}, {"encoding": "pcm16", "sample_rate": 16000}],
)  # fmt: skip
async def test_every_output_format_speaks_the_normalized_text(
    server, engine: HeardEngine, output: dict[str, object]
) -> None:
    got = await speak(server.ws, [TEXT], language="en-US", normalize="on", **output)
    assert not got.of("error"), got.of("error")
    assert engine.take() == [SPOKEN]
    assert [e["text"] for e in got.of("sentence")] == [TEXT]


async def test_the_locale_reads_the_date(server, engine: HeardEngine) -> None:
    await speak(server.ws, ["Due 12/03/2026."], language="en-GB")
    assert engine.take() == ["Due the twelfth of March twenty twenty-six."]


async def test_heard_follows_the_spoken_amount_not_the_word_count(
    server, engine: HeardEngine
) -> None:
    """Cut in the middle of a long amount: the client hears it was not heard.

    Spoken, the sentence is some 130 characters (8.4 s from the sim engine), of
    which "$1,234,567.89" alone is about 100, from 0.9 s to 7.4 s. Clearing after
    3 s of audio is inside the amount whatever the host's speed; counting written
    words (half of eight words played by 4.2 s) would have reported the amount.
    """
    text = "Your total is $1,234,567.89 and that is all."
    async with websockets.connect(url(server.ws, lead_ms=0)) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "text", "text": text}))
        await ws.send(json.dumps({"type": "flush"}))
        frames = 0
        while frames < 150:  # 3 s of audio, paced in real time
            if isinstance(await ws.recv(), bytes):
                frames += 1
        await ws.send(json.dumps({"type": "clear"}))
        cleared = (await collect(ws, until="cleared", limit_s=5)).of("cleared")[0]
    assert engine.take()[0].startswith("Your total is one million two hundred")
    assert cleared["heard"] == "Your total is"
    assert cleared["dropped_text"] == "$1,234,567.89 and that is all."


async def test_voices_reports_what_is_normalized_per_language(server) -> None:
    async with httpx.AsyncClient(base_url=server.http) as client:
        body = (await client.get("/v1/voices")).json()
    report = body["normalization"]
    assert report["categories"][0] == "emails" and "currency" in report["categories"]
    languages = report["languages"]
    assert languages["en"]["categories"] == report["categories"]
    assert "ordinals" in languages["fr"]["categories"]
    assert "units" not in languages["de"]["categories"]
    assert {"numbers", "currency", "dates", "times"} <= set(languages["zh"]["categories"])
    numbers_only = report["numbers_only"]
    assert "nl" in numbers_only["languages"] and "pl" in numbers_only["languages"]
    assert "dates" not in numbers_only["categories"]
    assert "pass through unchanged" in numbers_only["note"]
    assert "unchanged" in report["passthrough"]


# -- Twilio ------------------------------------------------------------------------------


def twilio(server, sid: str, **params: str) -> TwilioPeer:
    return TwilioPeer(
        f"{server.ws}/twilio",
        call_sid="CA" + sid * 32,
        stream_sid="MZ" + sid * 32,
        params={"language": "en", **params},
    )


@pytest.mark.parametrize(
    ("sid", "params", "spoken"),
    [
        ("a", {}, SPOKEN),
        ("b", {"normalize": "off"}, TEXT),
        (
            "c",
            {"normalize": "currency,dates"},
            f"Your balance is {AMOUNT} as of {DATE} at 3:30 pm.",
        ),
    ],
)
async def test_the_greeting_is_normalized_by_the_call_parameter(
    server, engine: HeardEngine, sid: str, params: dict[str, str], spoken: str
) -> None:
    async with twilio(server, sid, greeting=TEXT, **params) as peer:
        assert await heard_by_engine(engine) == [spoken]
        await until(lambda: len(peer.media) > 10)  # and it is played to the caller


async def test_a_bad_normalize_parameter_is_counted_logged_and_read_as_on(
    server, engine: HeardEngine, caplog: pytest.LogCaptureFixture
) -> None:
    errors = server.gateway.metrics.errors.labels(code="invalid_setting")
    before = errors._value.get()
    with caplog.at_level(logging.WARNING, logger="gateway.carriers.twilio"):
        async with twilio(server, "d", greeting=TEXT, normalize="numbers,dollars"):
            assert await heard_by_engine(engine) == [SPOKEN]
    assert errors._value.get() == before + 1
    assert any("dollars" in r.getMessage() for r in caplog.records)


async def test_an_app_attached_to_a_twilio_call_brings_its_setting(
    server, engine: HeardEngine
) -> None:
    async with twilio(server, "e", normalize="off", session="norm-e"):
        async with websockets.connect(url(server.ws, session="norm-e", normalize="times")) as ws:
            ready = json.loads(await ws.recv())
            assert ready["settings"]["normalize"] == "times" and ready["carrier"] == "twilio"
            await ws.send(json.dumps({"type": "text", "text": TEXT}))
            await ws.send(json.dumps({"type": "flush"}))
            got = await collect(ws, until="sentence", limit_s=10)
    assert [e["text"] for e in got.of("sentence")] == [TEXT]
    assert engine.take() == ["Your balance is $42.50 as of 12/03/2026 at three thirty p m."]


# -- AudioSocket --------------------------------------------------------------------------


async def test_an_app_attached_to_an_audiosocket_call_chooses_normalize(
    server, engine: HeardEngine
) -> None:
    async with AsteriskPeer(server.audiosocket_port) as peer:
        await until(lambda: bool(server.gateway.calls.get(peer.call_id)))
        for setting, spoken in (
            ("dates", f"Your balance is $42.50 as of {DATE} at 3:30 pm."),
            ("off", TEXT),
            ("on", SPOKEN),
        ):
            query = url(server.ws, call=peer.call_id, normalize=setting, language="en")
            async with websockets.connect(query) as ws:
                ready = json.loads(await ws.recv())
                assert ready["carrier"] == "audiosocket", ready
                await ws.send(json.dumps({"type": "text", "text": TEXT}))
                await ws.send(json.dumps({"type": "flush"}))
                got = await collect(ws, until="sentence", limit_s=10)
                assert [e["text"] for e in got.of("sentence")] == [TEXT]
                assert await heard_by_engine(engine) == [spoken], setting
                await ws.send(json.dumps({"type": "clear"}))
                await collect(ws, until="cleared", limit_s=5)
            call = server.gateway.calls.get(peer.call_id)
            await until(lambda call=call: not call.attached)  # the next app may attach
