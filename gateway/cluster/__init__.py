"""Replicas that share calls through Redis (`VOXGATE_REDIS_URL`).

- `directory`: the Redis keys and the atomic claim that keeps a call id or
  alias owned by one live call across every replica;
- `replica`: this replica's claims, heartbeat and call events;
- `others`: what it knows of the other replicas' calls (for `/v1/calls`);
- `signing`: the HMAC that lets only replicas open a bridge;
- `bridge`: an attach that arrives on a replica that does not hold the call,
  proxied to the one that does over the internal `/internal/bridge` route.

Without Redis none of this runs (the Redis client is not even imported),
and nothing about a gateway changes.
"""

from .directory import ClusterUnavailable, Owner

__all__ = ["ClusterUnavailable", "Owner"]
