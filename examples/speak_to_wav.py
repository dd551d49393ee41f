"""Stream text into voxgate like an LLM and save the µ-law audio it returns as a WAV.

python examples/speak_to_wav.py "Hello! Your table for four is confirmed." out.wav
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import wave

import websockets

from telephony.g711 import ulaw_decode


async def main(text: str, path: str) -> None:
    frames: list[bytes] = []
    base = os.environ.get("VOXGATE_URL", "ws://127.0.0.1:8080")
    async with websockets.connect(f"{base}/v1/speak?encoding=mulaw") as ws:
        await ws.recv()  # ready
        t0 = time.perf_counter()
        for i in range(0, len(text), 4):  # token-sized pieces
            await ws.send(json.dumps({"type": "text", "text": text[i : i + 4]}))
        await ws.send(json.dumps({"type": "close"}))
        async for msg in ws:
            if isinstance(msg, bytes):
                if not frames:
                    print(f"first audio after {(time.perf_counter() - t0) * 1000:.0f} ms")
                frames.append(msg)
            else:
                print(msg)
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(ulaw_decode(b"".join(frames)))
    seconds = sum(len(f) for f in frames) / 8000  # µ-law at 8 kHz: one byte per sample
    print(f"wrote {path}: {seconds:.2f} s of telephone audio")


if __name__ == "__main__":
    if not 2 <= len(sys.argv) <= 3:
        sys.exit(f"usage: python {sys.argv[0]} TEXT [OUT.wav]\n\n{__doc__.strip()}")
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "voxgate.wav"))
