"""The remote engine: speech from a pool of OpenAI-compatible streaming speech servers.

Why: one gateway process holds calls cheaply, but speech needs GPUs; with this
engine the gateway tier and the GPU tier scale apart, on servers people already
run (vLLM-Omni serving Qwen3-TTS, Kokoro-FastAPI, or another voxgate with the
Qwen engine). Each sentence is one `POST {base}/audio/speech` asking for raw
16-bit PCM, streamed: chunks go to the session as they arrive, at the
upstream's rate (the gateway resamples it once, as for any engine).

Unlike a local model it is not one at a time: it declares
`concurrency = per-upstream limit x upstreams` to the speech core, which admits
that many sentences (fair between tenants, earliest deadline first) and hands
each to `submit`. The HTTP work runs as tasks on the event loop itself (it is
I/O, not compute), through one pooled keep-alive client per loop, so the core's
inference thread is never occupied by a remote sentence.

Faults: a connect or first-byte timeout, a refused connection or a 5xx marks
that upstream down (exponential backoff) and the sentence is retried on another
one, as long as no audio of it was sent yet; a failure after the first byte
costs that sentence an `engine_error` and nothing else. A 4xx is the request's
fault: reported for that sentence, the upstream stays up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np

from tts_core.engine import (
    EngineError,
    EngineUnavailable,
    InvalidRequest,
    Resolved,
    Sink,
    StreamEnd,
    SynthesisRequest,
    Voice,
    language_tag,
)

from .upstreams import NoUpstream, Upstream, UpstreamPool, display

log = logging.getLogger(__name__)

ERROR_BODY_LIMIT = 2048  # bytes of an upstream's error body worth reading


class UpstreamFailed(Exception):
    """This upstream could not serve the request (retry elsewhere if nothing was sent)."""


class RemoteEngine:
    name = "remote"

    def __init__(
        self,
        urls: list[str] | str,
        *,
        api_key: str | None = None,
        model: str = "tts-1",
        voices: list[str] | str | None = None,
        sample_rate: int = 24000,
        concurrency: int = 8,
        connect_timeout_s: float = 2.0,
        first_byte_timeout_s: float = 5.0,
        read_timeout_s: float = 10.0,
        extra: dict[str, Any] | str | None = None,
        language_field: str = "language",
    ) -> None:
        """`urls` are base URLs such as `http://gpu1:8091/v1` (comma-separated in a
        string); `voices` are the upstream's voice names, the first the default;
        `extra` fields go into every request body (JSON text or a dict; default
        `{"stream": true}`, which vLLM-Omni and Kokoro-FastAPI read);
        `language_field` names the body field for a sentence's language ("" = none)."""
        bases = [u.strip() for u in (urls.split(",") if isinstance(urls, str) else urls)]
        bases = [b for b in bases if b]
        for base in bases:
            if not base.startswith(("http://", "https://")):
                raise ValueError(f"remote URL must be http(s)://…, not {display(base)!r}")
        self.pool = UpstreamPool(bases, concurrency)
        self.api_key = api_key or None
        self.model = model
        names = voices.split(",") if isinstance(voices, str) else (voices or [])
        self._voices = [v.strip() for v in names if v.strip()] or ["alloy"]
        self._sample_rate = sample_rate
        self.per_upstream = concurrency
        self.connect_timeout_s = connect_timeout_s
        self.first_byte_timeout_s = first_byte_timeout_s
        self.read_timeout_s = read_timeout_s
        if isinstance(extra, str):
            extra = json.loads(extra) if extra.strip() else {}
        self.extra: dict[str, Any] = {"stream": True} if extra is None else dict(extra)
        self.language_field = language_field
        self._loaded = False
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}

    # -- engine contract -------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def concurrency(self) -> int:
        return self.per_upstream * len(self.pool.upstreams)

    def load(self) -> None:
        """Nothing to load: upstreams are reached per request (and probed by failing)."""
        try:
            import httpx  # noqa: F401
        except ImportError as exc:
            raise EngineUnavailable(f"the remote engine needs httpx ({exc})") from exc
        self._loaded = True

    def unload(self) -> None:
        """Idle unload has nothing to free here; connections close with their loop."""

    def voices(self) -> list[Voice]:
        return [
            Voice(name=v, languages=("auto",), default_language="auto",
                  description=f"voice {v} of the remote speech servers")
            for v in self._voices
        ]  # fmt: skip

    def default_voice(self) -> str:
        return self._voices[0]

    def resolve(self, voice: str | None, language: str | None, speed: float = 1.0) -> Resolved:
        """Voices are the configured upstream names; languages pass through (the
        upstream decides), keeping the client's tag as the locale for normalization."""
        name = (voice or self.default_voice()).strip()
        known = {v.lower(): v for v in self._voices}
        if name.lower() not in known:
            raise InvalidRequest(
                f"unknown voice {name!r} for the remote engine; choose one of {self._voices}",
                field="voice",
            )
        if not 0.25 <= speed <= 4.0:
            raise InvalidRequest("speed must be between 0.25 and 4.0", field="speed")
        tag = language_tag(language)
        return Resolved(known[name.lower()], language or "auto", tag, speed)

    # -- the batched-engine contract: requests run as tasks on the event loop ------

    def submit(self, request: SynthesisRequest, sink: Sink) -> asyncio.Task[None]:
        self.resolve(request.voice, request.language, request.speed)  # refuse up front
        loop = asyncio.get_running_loop()
        return loop.create_task(self._deliver(request, sink, self._client(loop)))

    def cancel(self, ticket: object) -> None:
        if isinstance(ticket, asyncio.Task):
            ticket.cancel()

    def has_work(self) -> bool:
        return False  # nothing ever waits for the inference thread

    def run_until_idle(self) -> None:
        return None

    def synthesize(self, request: SynthesisRequest) -> Iterator[np.ndarray]:
        """One sentence on the caller's thread (CLI, tests), on a private loop."""
        self.resolve(request.voice, request.language, request.speed)
        loop = asyncio.new_event_loop()
        client = self._client(loop)
        chunks = self._stream(request, client)
        try:
            while True:
                try:
                    yield loop.run_until_complete(chunks.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(chunks.aclose())
            loop.run_until_complete(client.aclose())
            self._clients.pop(loop, None)
            loop.close()

    # -- health and figures ----------------------------------------------------------

    def health(self) -> dict[str, int]:
        return {"upstreams": len(self.pool.upstreams), "upstreams_up": self.pool.healthy()}

    def stats(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {"upstream": u.label, "up": u.up(now), "in_flight": u.in_flight,
             "requests": u.requests, "errors": u.errors, "first_byte": u.first_byte.copy()}
            for u in self.pool.upstreams
        ]  # fmt: skip

    # -- requests ----------------------------------------------------------------------

    def _client(self, loop: asyncio.AbstractEventLoop) -> Any:
        import httpx

        client = self._clients.get(loop)
        if client is None:
            limits = httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            )
            timeout = httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s)
            client = httpx.AsyncClient(limits=limits, timeout=timeout)
            self._clients[loop] = client
        return client

    async def _deliver(self, request: SynthesisRequest, sink: Sink, client: Any) -> None:
        try:
            async for chunk in self._stream(request, client):
                sink(chunk)
        except asyncio.CancelledError:
            sink(StreamEnd("cancelled"))
            raise
        except EngineError as exc:
            sink(exc)
            return
        except Exception as exc:  # a bug here must cost one sentence, not the session
            log.exception("remote engine failed")
            sink(EngineError(f"remote synthesis failed: {type(exc).__name__}"))
            return
        sink(StreamEnd("done"))

    def _body(self, request: SynthesisRequest) -> dict[str, Any]:
        resolved = self.resolve(request.voice, request.language, request.speed)
        body: dict[str, Any] = {
            "model": self.model, "input": request.text, "voice": resolved.voice,
            "response_format": "pcm", "speed": resolved.speed, **self.extra,
        }  # fmt: skip
        if self.language_field and request.language and request.language.lower() != "auto":
            body[self.language_field] = request.language
        return body

    async def _stream(self, request: SynthesisRequest, client: Any) -> AsyncIterator[np.ndarray]:
        body = self._body(request)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        tried: set[int] = set()
        while True:
            try:
                index, upstream = await self.pool.acquire(tried)
            except NoUpstream as exc:  # this sentence fails; the session and others go on
                raise EngineError(f"no speech server could take the sentence: {exc}") from exc
            tried.add(index)
            sent = False
            try:
                async for chunk in self._one(client, upstream, body, headers):
                    sent = True
                    yield chunk
                return
            except UpstreamFailed as exc:
                self.pool.failed(upstream, str(exc))
                log.warning("remote upstream %s failed: %s", upstream.label, exc)
                if sent:
                    raise EngineError(f"the speech server failed mid-sentence: {exc}") from exc
            finally:
                await self.pool.release(upstream)

    async def _one(
        self, client: Any, upstream: Upstream, body: dict[str, Any], headers: dict[str, str]
    ) -> AsyncIterator[np.ndarray]:
        import httpx

        started = time.monotonic()
        url = f"{upstream.base}/audio/speech"
        try:
            async with client.stream("POST", url, json=body, headers=headers) as response:
                if response.status_code >= 400:
                    detail = await _error_text(response)
                    if response.status_code < 500 and response.status_code != 429:
                        self.pool.counted_error(upstream, f"HTTP {response.status_code}")
                        raise EngineError(f"the speech server refused the sentence: {detail}")
                    raise UpstreamFailed(f"HTTP {response.status_code}: {detail}")
                chunks = response.aiter_bytes()
                first = await asyncio.wait_for(anext(chunks, b""), self.first_byte_timeout_s)
                self.pool.succeeded(upstream, time.monotonic() - started)
                carry = b""
                data = first
                while data:
                    data, carry = carry + data, b""
                    if len(data) % 2:
                        data, carry = data[:-1], data[-1:]
                    if data:
                        yield np.frombuffer(data, dtype="<i2").astype(np.int16)
                    data = await anext(chunks, b"")
        except TimeoutError as exc:
            raise UpstreamFailed(f"no audio within {self.first_byte_timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise UpstreamFailed(type(exc).__name__) from exc


async def _error_text(response: Any) -> str:
    raw = b""
    with contextlib.suppress(Exception):
        async for part in response.aiter_bytes():
            raw += part
            if len(raw) >= ERROR_BODY_LIMIT:
                break
    text = raw[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
        message = parsed.get("error", parsed)
        if isinstance(message, dict):
            message = message.get("message", message)
        text = str(message)
    except (ValueError, AttributeError):
        pass
    return text[:300] or f"HTTP {response.status_code}"
