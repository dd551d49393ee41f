"""The remote engine: a pool of OpenAI-compatible streaming speech servers (SPEC §2, §7).

- engine.py     the `Engine` the speech core sees: submit, stream, fail over
- upstreams.py  which upstream is up and has room, and backoff for those that are not
"""

from .engine import RemoteEngine

__all__ = ["RemoteEngine"]
