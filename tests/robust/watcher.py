"""`python tests/robust/watcher.py AUDIOSOCKET_PORT HTTP_PORT`: a call and a health probe,
timed in a process of their own.

Why a process: the stall test throws 64 KB and 248 KB messages at the gateway
from the test process, whose own event loop, JSON encoding and garbage
collector would otherwise delay reading the call's frames and health answers,
and those delays would be charged to the gateway. Here nothing else runs: one
AsteriskPeer in an event loop, one blocking `/healthz` probe in a thread, both
timestamped with the system-wide monotonic clock the test also reads.

Protocol on stdio: the first line out is `{"call_id": ...}`; after `stop` on
stdin, the last line out is `{"frame_times", "speech_frames", "health"}` where
`health` holds (time, seconds) pairs.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.e2e.peers import AsteriskPeer


def probe(port: int, stop: threading.Event, out: list[tuple[float, float]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        while not stop.is_set():
            t0 = time.monotonic()
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            out.append((t0, time.monotonic() - t0))
            time.sleep(0.02)
    finally:
        conn.close()


async def main(audiosocket_port: int, http_port: int) -> None:
    health: list[tuple[float, float]] = []
    stop = threading.Event()
    prober = threading.Thread(target=probe, args=(http_port, stop, health), daemon=True)
    async with AsteriskPeer(audiosocket_port) as peer:
        print(json.dumps({"call_id": peer.call_id}), flush=True)
        prober.start()
        loop = asyncio.get_running_loop()
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip() != "stop":
            pass
        stop.set()
        prober.join(5)
        report = {
            "frame_times": peer.frame_times,
            "speech_frames": len(peer.speech_frames()),
            "health": health,
        }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
