"""Telephony media path: everything between an engine's PCM and bytes a carrier plays.

G.711 (`g711`), streaming resampling (`resample`), framing (`framer`), the wire
format and per-utterance encoder (`media`), pacing (`pacer`), the call events
every carrier shares (`events`), one sans-I/O codec module per carrier with
their registry (`carriers`), call legs with their pacing strategies (`legs`),
and the caller's audio on its way to an application (`listen`). Knows nothing
of Starlette, the gateway or the speech engines.
"""
