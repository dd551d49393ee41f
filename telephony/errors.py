"""Typed errors shared by the carrier protocol codecs.

Every codec turns a malformed or unexpected message into one of these instead of
a `KeyError` or `ValueError` from deep inside a parser, so the gateway can log a
stable `code`, close the connection with a meaningful reason, and never crash.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A peer broke its protocol; `code` is a short machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
