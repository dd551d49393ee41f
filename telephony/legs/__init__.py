"""Call legs: one module per carrier over the shared `CallLeg` contract in `base`."""

from telephony.legs.audiosocket import AudioSocketLeg
from telephony.legs.base import CallLeg, PendingMark
from telephony.legs.twilio import MarkOutcome, TwilioLeg

__all__ = ["AudioSocketLeg", "CallLeg", "MarkOutcome", "PendingMark", "TwilioLeg"]
