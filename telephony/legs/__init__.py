"""Call legs: one `CallLeg` over a wire (a codec) and a pacing strategy, for every carrier."""

from telephony.legs.base import CallLeg, MarkOutcome, PendingMark, Wire
from telephony.legs.pacing import Pacing, RealTimePump, SendAhead

__all__ = ["CallLeg", "MarkOutcome", "Pacing", "PendingMark", "RealTimePump", "SendAhead", "Wire"]
