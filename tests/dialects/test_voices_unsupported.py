"""Voice cloning on an engine that cannot clone: a clear refusal, never a crash."""

from __future__ import annotations

import httpx

from tests.qwen.clone_support import encoded, voice_like

from .support import KEY


def test_piper_refuses_to_clone_and_names_what_can(server) -> None:
    got = httpx.post(
        f"{server.http}/v1/voices", headers={"authorization": f"Bearer {KEY}"},
        files={"audio": ("me.wav", encoded(voice_like(), 24000), "audio/wav")},
    )  # fmt: skip
    assert got.status_code == 400
    assert got.json()["error"] == "cloning_unsupported" and "Base" in got.json()["message"]
    gone = httpx.delete(
        f"{server.http}/v1/voices/clone-0", headers={"authorization": f"Bearer {KEY}"}
    )
    assert gone.status_code == 404
