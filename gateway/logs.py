"""Structured logging: one JSON object per line, carrying session and call ids.

Every line passes `RedactSecrets` first, whoever logged it (uvicorn's access
log writes request URLs with their query strings): API keys in a `token`
query parameter, a bearer header or a key subprotocol, and the password of a
URL (`redis://:password@host`), never reach a log.
"""

from __future__ import annotations

import json
import logging
import re
import time

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# Extras that only make sense on a terminal (uvicorn's ANSI-coloured copy of its message).
_DROPPED = {"color_message"}

_SECRETS = re.compile(
    r"(?i:(?P<name>\b(?:token|api_key|apikey|xi_api_key|key|access_token|auth_token)=))"
    r"[^&\s\"']+"
    r"|(?i:(?P<auth>\b(?:authorization|xi-api-key)[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|token|basic)\s+)?))[^\s\"',}]+"
    r"|(?P<bearer>\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|(?P<proto>voxgate\.key\.)[A-Za-z0-9_-]+"
    r"|(?P<userinfo>\b[a-z][a-z0-9+.-]*://[^/@\s:]*:)[^@\s/]+(?=@)"  # redis://:password@host
)


def redact(text: str) -> str:
    """`text` with credential values replaced by `[redacted]`."""

    def replace(match: re.Match[str]) -> str:
        prefix = next(p for p in match.groups() if p is not None)
        return f"{prefix}[redacted]"

    return _SECRETS.sub(replace, text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message (and string extras) without credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        for key, value in record.__dict__.items():
            if key not in _STANDARD and isinstance(value, str):
                record.__dict__[key] = redact(value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _DROPPED and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


def setup_logging(level: str = "info", fmt: str = "json") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
