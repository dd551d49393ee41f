"""Scenario `ttfa`: how long a caller waits for the first audio, per engine.

One session on one gateway per engine. An "LLM" streams each answer token by
token (about 30 tokens/s), then flushes and waits until the answer has been
sent. Two figures per engine, p50/p95 over every answer and every sentence:

- turn: first text message of an answer -> its first audio frame at the client;
- sentence: the moment the client sent a sentence's last character -> that
  sentence's first frame (what a listener waits for mid-answer).

The session runs unpaced (`lead_ms=60000`): with real-time pacing a
sentence's first frame would wait for the previous sentence to play out,
which is playback, not latency. Between answers the client sends `clear`,
standing in for the caller having heard the answer, so no answer queues
behind the previous one's playout. The audio cache is off, so repeated
answers cost a full synthesis.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import servers
from .client import SessionLog, SpeakClient, chars_sent_at
from .common import Options, write_result
from .plots import plot_ttfa
from .stats import summary
from .texts import turns

UNPACED_LEAD_MS = 60_000


def sentence_latencies(log: SessionLog, turn_text: str, turn_start_chars: int) -> list[float]:
    """Last character sent -> first frame received, for the sentences of one answer.

    Sentences are located in the answer by their text; one the gateway reshaped
    (so it cannot be found) is skipped rather than guessed.
    """
    out = []
    cursor = 0
    for s in log.sentences:
        if s.first_frame_at is None or s.index < 0:
            continue
        pos = turn_text.find(s.text, cursor)
        if pos < 0:
            continue
        cursor = pos + len(s.text)
        sent = chars_sent_at(log, turn_start_chars + cursor)
        if sent is not None:
            out.append(s.first_frame_at - sent)
    return out


async def _session(ws: str, n_turns: int, tokens_per_s: float) -> dict[str, Any]:
    turn_ttfa: list[float] = []
    sentence_ttfa: list[float] = []
    server_sentence_ttfa: list[float] = []
    synth_ms: list[float] = []
    rtf: list[float] = []
    async with SpeakClient(ws, lead_ms=UNPACED_LEAD_MS) as client:
        log = client.log
        chars = 0
        for text in turns(n_turns):
            first_sentence = len(log.sentences)
            frames_before = len(log.frame_times)
            first_sent = await client.stream(text, tokens_per_s)
            await client.flush(limit_s=120)
            if len(log.frame_times) > frames_before:
                turn_ttfa.append(log.frame_times[frames_before] - first_sent)
            mine = log.sentences[first_sentence:]
            view = SessionLog(sends=log.sends, sentences=mine)
            sentence_ttfa += sentence_latencies(view, text, chars)
            for s in mine:
                if s.end:
                    server_sentence_ttfa.append(s.end["ttfa_ms"] / 1000)
                    synth_ms.append(s.end["synth_ms"])
                    if s.end["audio_ms"]:
                        rtf.append(s.end["synth_ms"] / s.end["audio_ms"])
            chars += len(text)
            # The caller would hear this answer out before replying. Unpaced, it is
            # still "playing" on the gateway's clock; `clear` ends it so the next
            # answer does not queue behind it (the pacer's lead is finite).
            cleared = client.expect("cleared")
            await client.send({"type": "clear"})
            await asyncio.wait_for(cleared, 30)
            await asyncio.sleep(0.2)  # the caller's reply: the engine is idle at the next answer
        # No `close`: the gateway would hold `done` until the unpaced audio had
        # played in real time. Every answer was flushed, so nothing is lost.
        errors = log.errors
    return {
        "turns": n_turns,
        "sentences": len(sentence_ttfa),
        "turn_ttfa_ms": summary(turn_ttfa, 1000),
        "sentence_ttfa_ms": summary(sentence_ttfa, 1000),
        "server_sentence_ttfa_ms": summary(server_sentence_ttfa, 1000),
        "synth_ms": summary(synth_ms),
        "rtf": summary(rtf, 1, 3),
        "errors": errors[:5],
        "samples": {
            "turn_ttfa_ms": [round(x * 1000, 2) for x in turn_ttfa],
            "sentence_ttfa_ms": [round(x * 1000, 2) for x in sentence_ttfa],
        },
    }


def run(opts: Options) -> dict[str, Any]:
    started = time.monotonic()
    n_turns = 30 if opts.quick else 60
    engines: dict[str, Any] = {}
    for engine in opts.engines:
        settings = opts.engine_settings(engine)
        label = engine if engine != "sim" else "sim (rtf 0: gateway floor)"
        try:
            with servers.gateway(f"ttfa-{engine}", settings, opts.logs, timeout=300) as server:
                cpu0 = server.cpu()
                result = asyncio.run(_session(server.ws, n_turns, opts.tokens_per_s))
                result["server_cpu_s"] = round(server.cpu() - cpu0, 2)
        except Exception as exc:  # one engine failing must not hide the others
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result["label"] = label
        engines[engine] = result
    data = {"tokens_per_s": opts.tokens_per_s, "engines": engines}
    path = write_result(opts, "ttfa", data, started)
    plot_ttfa(data, path.with_suffix(".png"))
    return data
