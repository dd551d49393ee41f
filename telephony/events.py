"""Call events shared by every carrier codec, in both directions.

A carrier codec (`telephony.carriers.<name>`) turns the carrier's own messages
into the inbound events below, and the outbound commands below into the
carrier's messages, so that nothing above the codec knows which carrier a
call came from: the gateway handles one `Dtmf`, one `MarkPlayed`, one
`HungUp`, whatever the wire looked like. Audio is normalised at this
boundary: `CallerAudio.payload` is in one of the `telephony.media` encodings
(`mulaw`, `alaw`, or 16-bit *little-endian* `pcm16`), so a carrier whose wire
is big-endian L16 swaps bytes in its codec and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CallEvent",
    "CallStarted",
    "CallerAudio",
    "ClearAudio",
    "Cleared",
    "Command",
    "Dtmf",
    "EndCall",
    "FlowControl",
    "HungUp",
    "MarkPlayed",
    "SendAudio",
    "SendMark",
]

DTMF_DIGITS = frozenset("0123456789*#ABCD")


# -- inbound: carrier → gateway ----------------------------------------------------


@dataclass(frozen=True)
class CallStarted:
    """The carrier announced a call: its ids, where it is from and to, its parameters.

    `call_id` is the id the call is registered under (Twilio's callSid, Telnyx's
    call_control_id, ...); `ids` are other ids of the same call an application
    may know it by (Twilio's streamSid). `params` are the carrier's custom
    parameters (TwiML `<Parameter>`, Plivo extra headers, Vonage headers ...),
    all strings. `encoding`/`sample_rate` describe the caller audio that follows.
    """

    call_id: str
    ids: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    from_: str | None = None
    to: str | None = None
    encoding: str = "mulaw"
    sample_rate: int = 8000
    info: dict[str, str] = field(default_factory=dict)  # e.g. account ids, for logs


@dataclass(frozen=True)
class CallerAudio:
    """Audio from the caller, in `encoding` (a `telephony.media` one) at `sample_rate`."""

    payload: bytes
    encoding: str
    sample_rate: int


@dataclass(frozen=True)
class Dtmf:
    """The caller pressed a key (one of `DTMF_DIGITS`)."""

    digit: str


@dataclass(frozen=True)
class MarkPlayed:
    """The carrier reports that the audio sent before mark `name` has finished playing."""

    name: str


@dataclass(frozen=True)
class Cleared:
    """The carrier confirms a barge-in emptied its playback buffer."""


@dataclass(frozen=True)
class FlowControl:
    """The carrier asks the sender to pause (`paused`) or resume sending audio."""

    paused: bool


@dataclass(frozen=True)
class HungUp:
    """The call is over from the carrier's side; `reason` says how (stop, hangup, error)."""

    reason: str = "hangup"


CallEvent = CallStarted | CallerAudio | Dtmf | MarkPlayed | Cleared | FlowControl | HungUp


# -- outbound: gateway → carrier ---------------------------------------------------


@dataclass(frozen=True)
class SendAudio:
    """Whole frames of the leg's media format, to be played in order."""

    frames: tuple[bytes, ...]


@dataclass(frozen=True)
class SendMark:
    """Ask to be told (`MarkPlayed`) once everything sent before this has played."""

    name: str


@dataclass(frozen=True)
class ClearAudio:
    """Barge-in: drop whatever the carrier still holds to play."""


@dataclass(frozen=True)
class EndCall:
    """Hang the call up, the carrier's way (a hangup message, or nothing and a close)."""


Command = SendAudio | SendMark | ClearAudio | EndCall
