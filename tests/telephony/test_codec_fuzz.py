"""Whatever a carrier sends, its codec answers with call events or a typed protocol error.

Hypothesis builds messages from each carrier's own vocabulary (its event
names and field names, with values of any JSON type, nested), after a valid
start or without one, as text and as binary: nothing may escape as a
KeyError, TypeError or ValueError from inside a parser, and the codec stays
usable after every rejected message (a fatal error aside).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.carriers import carrier, names
from telephony.carriers.base import CarrierProtocolError
from telephony.events import CallStarted

EVENTS = {
    "twilio": ["connected", "start", "media", "dtmf", "mark", "stop"],
    "telnyx": ["connected", "start", "media", "dtmf", "mark", "stop", "error"],
    "plivo": ["start", "media", "dtmf", "playedStream", "clearedAudio", "stop"],
    "vonage": ["websocket:connected", "websocket:dtmf", "websocket:notify", "websocket:cleared"],
    "asterisk": [
        "MEDIA_START",
        "DTMF_END",
        "MEDIA_MARK_PROCESSED",
        "MEDIA_XOFF",
        "MEDIA_XON",
        "ERROR",
        "STATUS",
    ],
    "exotel": ["connected", "start", "media", "dtmf", "mark", "clear", "stop"],
}
FIELDS = [
    "start", "media", "payload", "digit", "mark", "name", "track", "stream_id", "streamSid",
    "stream_sid", "streamId", "callSid", "call_sid", "callId", "call_control_id", "accountSid",
    "media_format", "mediaFormat", "encoding", "sample_rate", "sampleRate", "content-type",
    "uuid", "format", "optimal_frame_size", "ptime", "channel_id", "connection_id",
    "correlation_id", "dtmf", "custom_parameters", "customParameters", "extra_headers",
    "headers", "tracks", "sequenceNumber", "chunk", "timestamp", "channel_variables",
]  # fmt: skip
VALID_STARTS = {
    "twilio": {
        "event": "start",
        "streamSid": "MZ1",
        "start": {"streamSid": "MZ1", "callSid": "CA1", "accountSid": "AC1"},
    },
    "telnyx": {
        "event": "start",
        "stream_id": "S1",
        "start": {
            "call_control_id": "v3:1",
            "media_format": {"encoding": "PCMA", "sample_rate": 8000},
        },
    },
    "plivo": {
        "event": "start",
        "start": {
            "callId": "C1",
            "streamId": "S1",
            "mediaFormat": {"encoding": "audio/x-l16", "sampleRate": 16000},
        },
    },
    "vonage": {"event": "websocket:connected", "content-type": "audio/l16;rate=8000", "uuid": "U"},
    "asterisk": {
        "event": "MEDIA_START",
        "channel_id": "1.1",
        "format": "slin16",
        "optimal_frame_size": 640,
    },
    "exotel": {"event": "start", "stream_sid": "S1", "start": {"call_sid": "C1"}},
}
WEBSOCKET = [n for n in names() if carrier(n).transport == "websocket"]

values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.floats() | st.text(max_size=12)
    | st.sampled_from(["", "inbound", "PCMU", "audio/x-mulaw", "ulaw", "AAAA", "/w==", "8000"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), inner, max_size=4),
    max_leaves=10,
)  # fmt: skip


def messages(name: str) -> st.SearchStrategy[str | bytes]:
    key = "event"
    body = st.dictionaries(st.sampled_from(FIELDS), values, max_size=5)
    shaped = st.builds(lambda e, b: json.dumps({key: e, **b}), st.sampled_from(EVENTS[name]), body)
    plain = st.builds(
        lambda e, words: " ".join([e, *words]),
        st.sampled_from(EVENTS[name]),
        st.lists(st.text(max_size=10), max_size=4),
    )
    return st.one_of(shaped, shaped, plain, st.text(max_size=30), st.binary(max_size=40))


@pytest.mark.parametrize("name", WEBSOCKET)
def test_no_message_escapes_as_anything_but_a_protocol_error(name: str) -> None:
    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(started=st.booleans(), sent=st.lists(messages(name), max_size=12))
    def run(started: bool, sent: list[str | bytes]) -> None:
        codec = carrier(name)()
        if started:
            assert isinstance(codec.receive_text(json.dumps(VALID_STARTS[name]))[0], CallStarted)
        for raw in sent:
            try:
                if isinstance(raw, bytes):
                    codec.receive_bytes(raw)
                else:
                    codec.receive_text(raw)
            except CarrierProtocolError as exc:
                assert exc.code and isinstance(exc.message, str)
                if exc.fatal:
                    return

    run()
