"""The internal bridge route lets in what a replica signed, and nothing else.

`/internal/bridge` runs a session on a live call with the tenant named in a
header, so it must never be reachable with what a client has: no signature,
a public API key, a signature under another secret, one for another query,
an old one, or one already used are all refused at the upgrade (HTTP 403).
Neither the cluster secret nor the Redis password nor an API key reaches a
replica's log.
"""

from __future__ import annotations

import json
import time

import pytest
import websockets

from gateway.auth import tenant_label
from gateway.cluster.signing import sign
from gateway.config import Settings
from tests.carriers.peers import peer
from tests.carriers.support import feed, wait_until
from tests.e2e.server import serve

from .processes import API_KEY, CLUSTER_SECRET, OTHER_KEY, REDIS_PASSWORD

AudioSocket = peer("audiosocket")
SENDER = "0123456789ab"


async def refused(url: str, headers: dict[str, str]) -> int:
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(url, additional_headers=headers):
            pass
    return caught.value.response.status_code


async def test_only_a_request_signed_with_the_cluster_secret_opens_a_bridge(replicas) -> None:
    r1 = replicas[0]
    tenant = tenant_label(API_KEY)
    calls = await feed(r1.ws, token=API_KEY)
    async with AudioSocket(r1, AudioSocket.new_id()) as carrier:
        # Dialled is not yet registered: a bridge before that finds no call (single-use
        # signatures cannot be retried), so wait for the replica to announce it.
        await calls.first("call_started", call=carrier.call_id)
        target = f"/internal/bridge?call={carrier.call_id}&listen=0"
        url = r1.ws + target
        good = sign(CLUSTER_SECRET, target, tenant, SENDER)
        assert await refused(url, {}) == 403
        assert await refused(url, {"Authorization": f"Bearer {API_KEY}"}) == 403
        assert await refused(url + f"&token={API_KEY}", {}) == 403
        assert await refused(url, sign("not-the-cluster-secret", target, tenant, SENDER)) == 403
        other = f"/internal/bridge?call={AudioSocket.new_id()}&listen=0"
        assert await refused(url, sign(CLUSTER_SECRET, other, tenant, SENDER)) == 403
        forged = dict(good) | {"x-voxgate-bridge-tenant": tenant_label(OTHER_KEY)}
        assert await refused(url, forged) == 403  # the tenant is signed too
        stale = sign(CLUSTER_SECRET, target, tenant, SENDER, now=time.time() - 120)
        assert await refused(url, stale) == 403
        # The genuine request is served: a session on the live call...
        async with websockets.connect(url, additional_headers=good) as bridge:
            ready = json.loads(await bridge.recv())
            assert ready["type"] == "ready", ready
            assert ready["call"] == carrier.call_id
        # ...once: the same signature again is a replay.
        assert await refused(url, good) == 403
    for replica in replicas:
        log = replica.log()
        for secret in (
            CLUSTER_SECRET,
            REDIS_PASSWORD,
            API_KEY,
            OTHER_KEY,
            good["x-voxgate-bridge-signature"],
        ):
            assert secret not in log
    assert "bridge refused" in r1.log()


async def test_without_a_cluster_the_bridge_route_is_closed() -> None:
    with serve(Settings(engine="sim", audiosocket_port=0, cluster_secret=CLUSTER_SECRET)) as srv:
        target = "/internal/bridge?call=CA1"
        headers = sign(CLUSTER_SECRET, target, "open", SENDER)
        assert await refused(srv.ws + target, headers) == 403
        await wait_until(lambda: not srv.gateway.sessions, 2, "no session")
