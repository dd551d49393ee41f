"""A tiny Asterisk voice app: attach to an AudioSocket call on voxgate by its UUID.

    python examples/asterisk/agent.py 5f3c…   (the UUID passed to AudioSocket())

The dialplan in extensions.conf starts this script and then connects the call to
voxgate; the script waits for the call to appear, speaks, and reacts to DTMF.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import websockets

VOXGATE = os.environ.get("VOXGATE_URL", "ws://127.0.0.1:8080")
MENU = "Welcome. For opening hours, press one. To hear this again, press two."
HOURS = "We are open Monday to Friday, from 9 a.m. to 5 p.m."


async def attach(call_id: str):
    for _ in range(50):  # the call registers when Asterisk connects
        # listen=0: this menu needs only the keys, not the caller's voice.
        ws = await websockets.connect(f"{VOXGATE}/v1/speak?call={call_id}&listen=0")
        event = json.loads(await ws.recv())
        if event["type"] == "ready":
            return ws
        await ws.close()
        await asyncio.sleep(0.1)
    raise SystemExit(f"call {call_id} never appeared")


async def main(call_id: str) -> None:
    ws = await attach(call_id)
    await ws.send(json.dumps({"type": "text", "text": MENU}))
    async for raw in ws:
        event = json.loads(raw)
        if event["type"] == "dtmf":
            await ws.send(json.dumps({"type": "clear"}))
            text = HOURS if event["digit"] == "1" else MENU
            await ws.send(json.dumps({"type": "text", "text": text}))
            await ws.send(json.dumps({"type": "flush"}))
        elif event["type"] in ("call_ended", "done"):
            break
    await ws.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
