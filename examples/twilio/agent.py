"""A tiny Twilio voice app: attach to a live call on voxgate and talk.

    python examples/twilio/agent.py CA0123...            (the callSid or streamSid)
    python examples/twilio/agent.py --session order-42  (the `session` <Parameter>)

voxgate terminates the Twilio media stream itself (see twiml.xml); this app only
sends text. Replace `reply()` with your LLM's streaming output. The binary
messages are the caller's voice (16 kHz slin here, as `encoding` and
`sample_rate` ask): feed them to your speech-to-text. `#` hangs up.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import websockets

VOXGATE = os.environ.get("VOXGATE_URL", "ws://127.0.0.1:8080")


def reply(digit: str) -> list[str]:
    """Stand-in for an LLM: yields text in token-sized pieces."""
    text = f"You pressed {digit}. Let me look that up for you. One moment, please."
    return [text[i : i + 4] for i in range(0, len(text), 4)]


async def main(query: str) -> None:
    headers = (
        {"Authorization": f"Bearer {os.environ['VOXGATE_API_KEY']}"}
        if os.environ.get("VOXGATE_API_KEY")
        else {}
    )
    url = f"{VOXGATE}/v1/speak?{query}&encoding=pcm16&sample_rate=16000"
    async with websockets.connect(url, additional_headers=headers) as ws:
        print(json.loads(await ws.recv()))  # ready
        await ws.send(json.dumps({"type": "text", "text": "Press any key on your phone."}))
        heard = 0
        async for raw in ws:
            if isinstance(raw, bytes):  # 20 ms of the caller: speech-to-text goes here
                heard += len(raw)
                continue
            event = json.loads(raw)
            print(event, f"({heard // 32} ms of the caller heard)")
            if event["type"] == "dtmf" and event["digit"] == "#":
                await ws.send(json.dumps({"type": "text", "text": "Goodbye."}))
                await ws.send(json.dumps({"type": "hangup"}))  # after "Goodbye." has played
            elif event["type"] == "dtmf":
                await ws.send(json.dumps({"type": "clear"}))  # barge-in on the caller's key
                for piece in reply(event["digit"]):
                    await ws.send(json.dumps({"type": "text", "text": piece}))
                    await asyncio.sleep(0.03)  # ~30 tokens/s, like an LLM
                await ws.send(json.dumps({"type": "flush"}))
            elif event["type"] in ("call_ended", "done"):
                break


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--session"] and len(args) == 2:
        asyncio.run(main(f"session={args[1]}"))
    elif len(args) == 1:
        asyncio.run(main(f"call={args[0]}"))
    else:
        sys.exit(__doc__)
