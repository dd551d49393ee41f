"""voxgate's benchmark harness: the figures users choose a voice gateway by.

`python -m bench <scenario>` starts real servers on loopback as subprocesses
and measures them from this (client) process, so the numbers include the
sockets, the event loop and the codecs a caller pays for. Scenarios: `ttfa`,
`overhead`, `fairness`, `loop`, `peer`, `tenants` (a noisy tenant's 30 sessions
against another tenant's caller), `intelligibility` (a recognizer's word error
rate on the phone path, in-process), `qwen` (the batched Qwen3-TTS runtime:
per-step cost, calls per host), `dialects` (first byte through the OpenAI,
ElevenLabs and Deepgram adapters against `/v1/speak`), `remote` (the remote
engine's hop against in-process), `replicas` (an attach bridged across replicas
against one on the call's own replica) and `all`; see `bench/README.md`.
"""

__all__ = ["SCENARIOS"]

SCENARIOS = (
    "ttfa",
    "overhead",
    "fairness",
    "loop",
    "peer",
    "tenants",
    "intelligibility",
    "qwen",
    "dialects",
    "remote",
    "replicas",
)
