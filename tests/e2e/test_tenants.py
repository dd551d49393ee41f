"""An API key is a tenant: caps per tenant, and a fair share of the engine between tenants."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import websockets

from gateway.auth import tenant_label
from gateway.config import Settings
from tests.fakes import HeldSimEngine
from tts_core import SynthesisRequest
from tts_core.sim_engine import SimulatedEngine

from .client import collect, url
from .server import serve


class RecordingEngine(SimulatedEngine):
    """The sim engine at a fixed real-time factor, noting the order sentences reach it."""

    def __init__(self, rtf: float) -> None:
        super().__init__(rtf=rtf)
        self.order: list[str] = []
        self._lock = threading.Lock()

    def synthesize(self, request: SynthesisRequest) -> Iterator[np.ndarray]:
        with self._lock:
            self.order.append(request.text)
        return super().synthesize(request)


async def ready_of(ws) -> dict:
    return json.loads(await ws.recv())


async def test_a_tenant_is_capped_in_sessions_without_touching_another() -> None:
    settings = Settings(
        engine="sim", audiosocket_port=0, api_keys="noisy,quiet", tenant_max_sessions=2
    )
    with serve(settings, SimulatedEngine()) as srv:
        a1 = await websockets.connect(url(srv.ws, token="noisy"))
        a2 = await websockets.connect(url(srv.ws, token="noisy"))
        assert (await ready_of(a1))["type"] == (await ready_of(a2))["type"] == "ready"
        async with websockets.connect(url(srv.ws, token="noisy")) as a3:
            refused = await ready_of(a3)
            assert refused["code"] == "tenant_over_capacity"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await a3.recv()
            assert closed.value.rcvd.code == 1013
        async with websockets.connect(url(srv.ws, token="quiet")) as b1:
            assert (await ready_of(b1))["type"] == "ready"  # the other tenant is not affected
        await a1.close()
        # The client's close returns before the server has counted the session out.
        await until(lambda: len(srv.gateway.sessions) == 1)  # a2 alone
        async with websockets.connect(url(srv.ws, token="noisy")) as again:
            assert (await ready_of(again))["type"] == "ready"  # a freed place is usable
        await a2.close()


async def test_a_tenant_is_capped_in_queued_sentences_across_its_sessions() -> None:
    settings = Settings(
        engine="sim", audiosocket_port=0, api_keys="noisy,quiet", tenant_max_queued_sentences=6
    )
    with serve(settings, SimulatedEngine(rtf=1.0)) as srv:
        sentences = " ".join(f"Sentence {i}." for i in range(4)) + " Tail"
        answers = []
        sockets = []
        for _ in range(3):
            ws = await websockets.connect(url(srv.ws, token="noisy"))
            await ws.recv()
            await ws.send(json.dumps({"type": "text", "text": sentences}))
            answers.append(await first_event(ws))
            sockets.append(ws)
        # The first session's four sentences fit; the tenant's cap then refuses the others.
        assert answers[0]["type"] == "sentence"
        assert [a.get("code") for a in answers[1:]] == ["queue_full", "queue_full"]
        async with websockets.connect(url(srv.ws, token="quiet")) as quiet:
            await quiet.recv()
            await quiet.send(json.dumps({"type": "text", "text": sentences}))
            assert (await first_event(quiet))["type"] == "sentence"  # not the other's cap
        for ws in sockets:
            await ws.close()


async def first_event(ws) -> dict:
    """The first event after a text message: its refusal, or its first sentence starting."""
    while True:
        msg = await asyncio.wait_for(ws.recv(), 30)
        if isinstance(msg, str):
            return json.loads(msg)


async def test_a_noisy_tenant_cannot_starve_a_quiet_one() -> None:
    engine = RecordingEngine(rtf=0.2)
    settings = Settings(engine="sim", audiosocket_port=0, api_keys="noisy,quiet", lead_ms=60_000)
    with serve(settings, engine) as srv:
        noisy = []
        for n in range(10):
            ws = await websockets.connect(url(srv.ws, token="noisy"), max_size=2**24)
            await ws.recv()
            text = " ".join(f"Noisy caller {n} says sentence {i} now." for i in range(4))
            await ws.send(json.dumps({"type": "text", "text": text + " End."}))
            noisy.append(ws)
        for ws in noisy[:3]:  # the noisy tenant has the engine and a long queue
            assert (await first_event(ws))["type"] == "sentence"
        async with websockets.connect(url(srv.ws, token="quiet")) as quiet:
            await quiet.recv()
            served_before = len(engine.order)
            await quiet.send(json.dumps({"type": "text", "text": "Quiet caller here. "}))
            await quiet.send(json.dumps({"type": "flush"}))
            await collect(quiet, until="flushed", limit_s=30)
        # Under contention the quiet sentence may itself be rendered in pieces.
        position = next(i for i, t in enumerate(engine.order) if t.startswith("Quiet"))
        # Earliest-deadline alone would serve it after the 40 noisy sentences already waiting;
        # shared by tenant it goes right after the piece rendering when it arrived.
        assert position <= served_before + 1, (position, served_before)
        for ws in noisy:
            await ws.close()


async def until(predicate, limit_s: float = 10.0) -> None:
    """Wait for a condition the server reaches on its own (a cause, not a sleep)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def reply_to(ws, message: dict) -> dict | None:
    """Send `message`; the error it caused, or None when none came within a short wait."""
    await ws.send(json.dumps(message))
    try:
        while True:
            msg = await asyncio.wait_for(ws.recv(), 0.5)
            if isinstance(msg, str) and json.loads(msg).get("type") == "error":
                return json.loads(msg)
    except TimeoutError:
        return None


async def test_two_sessions_of_a_tenant_cannot_both_count_on_its_last_place() -> None:
    # Each session's pending tail holds a place of the tenant's limit from the moment its
    # text arrives; before, both tails counted on the same last place and the second
    # flush queued one sentence past the tenant's limit.
    engine = HeldSimEngine()
    settings = Settings(
        engine="sim",
        audiosocket_port=0,
        api_keys="noisy",
        tenant_max_queued_sentences=3,
        sentence_wait_s=60,
    )
    with serve(settings, engine) as srv:
        gw = srv.gateway

        def tenant_queued() -> int:
            return sum(s.pipeline.queued for s in gw.sessions)  # one tenant on this server

        a = await websockets.connect(url(srv.ws, token="noisy"))
        b = await websockets.connect(url(srv.ws, token="noisy"))
        await a.recv()
        await b.recv()
        try:
            assert await reply_to(a, {"type": "text", "text": "Alpha zero. Alpha"}) is None
            await until(engine.entered.is_set)  # "Alpha zero." holds the engine
            assert await reply_to(b, {"type": "text", "text": "Bravo zero. Bravo"}) is None
            await until(lambda: gw.core.scheduler.waiting == 1)  # "Bravo zero." waits for it
            # Two tails hold two places; one is left, and this message needs two.
            refused = await reply_to(a, {"type": "text", "text": " one. Alpha two. Alpha"})
            assert refused is not None and refused["code"] == "queue_full"
            assert await reply_to(b, {"type": "text", "text": " one"}) is None
            for ws in (a, b):
                assert await reply_to(ws, {"type": "flush"}) is None
                assert tenant_queued() <= 3
            items = [i for s in gw.sessions for i in s.pipeline._items]
            waiting = sorted(i.text for i in items if hasattr(i, "text"))  # not the flushes
            assert waiting == ["Alpha", "Bravo one"]  # both tails queued, nothing lost
        finally:
            engine.gate.set()
            await a.close()
            await b.close()


class Grants:
    """Every request for the engine and every grant of it, in order, from the server's loop."""

    def __init__(self, scheduler) -> None:
        self.events: list[tuple[str, str, float]] = []  # ("ask" | "grant", tenant, time)
        acquire, charge = scheduler.acquire, scheduler._charge

        async def asked(deadline, tenant="", cost=1.0):
            self.events.append(("ask", tenant, time.monotonic()))
            await acquire(deadline, tenant, cost)

        def granted(tenant, cost):
            self.events.append(("grant", tenant, time.monotonic()))
            charge(tenant, cost)

        scheduler.acquire, scheduler._charge = asked, granted

    def first(self, kind: str, tenant: str) -> int:
        return next(i for i, e in enumerate(self.events) if e[:2] == (kind, tenant))


def tokens_of(n: int) -> list[str]:
    """Words only session n says (letters only, so each is one speech unit)."""
    return [f"{'abcdefghij'[n]}{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(40)]


async def test_the_quiet_tenant_is_served_before_the_noisy_tenants_remaining_pieces() -> None:
    """With the render quantum, a noisy tenant's long sentences go in pieces while others
    wait, and a quiet tenant's caller is served after the piece in progress, not after the
    rest of the sentence (the engine itself cannot be interrupted)."""
    rtf = 0.1
    engine = RecordingEngine(rtf=rtf)
    settings = Settings(engine="sim", audiosocket_port=0, api_keys="noisy,quiet", lead_ms=60_000)
    with serve(settings, engine) as srv:
        core = srv.gateway.core
        grants = Grants(core.scheduler)
        sentences = {n: " ".join(tokens_of(n)) + "." for n in range(10)}  # 160 characters
        noisy = []
        for text in sentences.values():
            ws = await websockets.connect(url(srv.ws, token="noisy", normalize="off"))
            await ws.recv()
            await ws.send(json.dumps({"type": "text", "text": text}))
            await ws.send(json.dumps({"type": "flush"}))
            noisy.append(ws)
        await until(lambda: core.quantum.pieces >= 12, 30)  # the rotation is under way
        async with websockets.connect(url(srv.ws, token="quiet")) as quiet:
            await quiet.recv()
            await quiet.send(json.dumps({"type": "text", "text": "Quiet caller here."}))
            await quiet.send(json.dumps({"type": "flush"}))
            await collect(quiet, until="sentence", limit_s=30)

            def noisy_after_quiet() -> int:
                order = list(engine.order)
                at = next(i for i, t in enumerate(order) if t.startswith("Quiet"))
                return sum(1 for t in order[at + 1 :] if not t.startswith("Quiet"))

            await until(lambda: noisy_after_quiet() >= 10, 30)
        events, order = list(grants.events), list(engine.order)
        for ws in noisy:
            await ws.close()

    q, noisy_tenant = tenant_label("quiet"), tenant_label("noisy")
    ask = grants.first("ask", q)
    # The first grant after the quiet caller asked was its own: nothing of the noisy
    # tenant's 10 waiting sessions went before it.
    assert next(e for e in events[ask:] if e[0] == "grant")[1] == q
    waited = events[grants.first("grant", q)][2] - events[ask][2]

    def owner(piece: str) -> int | None:
        return next((n for n, t in sentences.items() if piece in t), None)

    quiet_at = next(i for i, t in enumerate(order) if t.startswith("Quiet"))
    before = {owner(t) for t in order[:quiet_at]} - {None}
    after = {owner(t) for t in order[quiet_at + 1 :]} - {None}
    # Noisy sentences begun before it were still unfinished: their remaining pieces came after.
    assert before & after, (order[:quiet_at], order[quiet_at + 1 :])
    # Each noisy render was a piece, a small part of its sentence (but the very first:
    # it found the engine free and nobody waiting, so it went whole) ...
    pieces = [t for t in order if owner(t) is not None]
    assert pieces[0] == sentences[owner(pieces[0])]
    assert max(len(t) for t in pieces[1:]) < len(sentences[0]) / 4
    # ... so the wait was a fraction of one whole noisy sentence's render (the sim engine
    # sleeps exactly RTF x duration, which is what it waited for before the quantum).
    whole_s = SimulatedEngine.duration_s(sentences[0]) * rtf
    assert waited < whole_s / 4, (waited, whole_s)
    assert noisy_tenant in {e[1] for e in events[grants.first("grant", q) :] if e[0] == "grant"}
