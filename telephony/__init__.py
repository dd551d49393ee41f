"""Telephony media path: everything between an engine's PCM and bytes a carrier plays.

G.711 (`g711`), streaming resampling (`resample`), framing (`framer`), the wire
format and per-utterance encoder (`media`), pacing (`pacer`), sans-I/O carrier
codecs (`twilio`, `audiosocket`; one module per carrier) and call legs
(`legs`). Knows nothing of Starlette, the gateway or the speech engines.
"""
