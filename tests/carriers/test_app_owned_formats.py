"""Every carrier as a `/v1/speak` output format, for an application that holds the carrier's socket.

`format=<carrier>` makes voxgate send that carrier's own messages (made by the
codec that terminates its calls) for the application to forward unchanged:
here each fake carrier parses what the session sends, as the carrier would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from telephony.carriers import carrier, names
from telephony.media import MediaFormat

from .peers import peer
from .support import Reader, expected_speech, wait_until
from .test_every_carrier import LONG, start_server

FORWARDED = [n for n in names() if peer(n).transport == "websocket"]


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with start_server() as running:
        yield running


@pytest.mark.parametrize("name", FORWARDED)
async def test_a_session_speaks_in_the_carriers_own_messages(server, name) -> None:
    codec = carrier(name)
    encoding, rates = next(iter(codec.media_options.items()))
    fmt = MediaFormat(encoding, rates[0], 20)
    fake = peer(name)(server, peer(name).new_id(), fmt=fmt)  # its parser only: no socket
    query = {"format": name, "encoding": encoding, "sample_rate": rates[0], "speed": "2.0",
             "lead_ms": "400"}  # fmt: skip
    if codec.needs_stream_id:
        query["stream_sid"] = fake.wire_id
    url = f"{server.ws}/v1/speak?" + "&".join(f"{k}={v}" for k, v in query.items())
    app = Reader(await websockets.connect(url, max_size=2**22))
    ready = await app.first("ready")
    assert ready["settings"]["format"] == name
    text = "Your table is ready."
    await app.send(type="text", text=text)
    await app.send(type="flush")
    await app.first("flushed", limit_s=15)
    await app.send(type="text", text=LONG)
    await app.first("sentence", limit_s=15, index=1)
    await app.send(type="clear")
    await app.first("cleared")
    await app.send(type="close")
    await app.first("done", limit_s=15)
    await wait_until(app.closed.is_set, 5, "the close")
    for _, message in app.frames:
        fake.handle(message)
    for message in app.texts:
        fake.handle(message)
    assert expected_speech(text, fmt) in bytes(fake.audio)
    assert "voxgate-s0" in fake.marks  # one mark per sentence, in the carrier's form
    assert "clear" in fake.kinds
    await app.close()
