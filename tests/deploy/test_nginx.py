"""deploy/nginx.conf run by Debian's nginx before two replicas: a call and an attach through it.

nginx runs as an unprivileged process (as `nobody` when the tests run as root)
with a prefix, logs and temp paths of its own, loading the shipped site file
with only the replica addresses, the listen addresses and the certificate
swapped (a self-signed one for 127.0.0.1, made by openssl). Through it, over
TLS: a Twilio call whose signature is valid only for the `wss://` URL Twilio
dialled (so `X-Forwarded-Proto` must reach the replica, and be trusted), an
application attaching to it (`least_conn` sends it to the other replica, so
it is bridged), speech byte for byte on Twilio's wire, the client's own
address in the replica's log (`X-Forwarded-For`), and the internal routes
kept off the public side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from bench.servers import free_port
from gateway.auth import twilio_signature
from tests.carriers.peers import peer
from tests.carriers.support import attach, expected_speech, wait_until
from tests.cluster.processes import API_KEY, RedisServer, Replica, require, start_replica

SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
CLIENT_ADDRESS = "127.0.0.9"  # the application's own address, as nginx sees it
Twilio = peer("twilio")


def site_for(replicas: list[Replica], https_port: int, http_port: int, tls: Path) -> str:
    """The shipped site file, with this test's addresses and certificate."""
    text = SITE.read_text()
    servers = iter(replicas)
    text, n = re.subn(r"server 10\.0\.0\.\d+:8080",
                      lambda _: f"server 127.0.0.1:{next(servers).port}", text)  # fmt: skip
    assert n == len(replicas)
    swaps = {
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "/etc/letsencrypt/live/voice.example.com/fullchain.pem": str(tls / "cert.pem"),
        "/etc/letsencrypt/live/voice.example.com/privkey.pem": str(tls / "key.pem"),
    }
    for old, new in swaps.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


MAIN = """daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    include {d}/voxgate.conf;
}}
"""


@contextlib.contextmanager
def nginx(replicas: list[Replica]) -> Iterator[dict[str, Any]]:
    binary = require("nginx")
    openssl = require("openssl")
    prefix = Path(tempfile.mkdtemp(prefix="voxgate-nginx-"))
    (prefix / "tmp").mkdir()
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(prefix / "key.pem"), "-out", str(prefix / "cert.pem"),
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    https_port, http_port = free_port(), free_port()
    (prefix / "voxgate.conf").write_text(site_for(replicas, https_port, http_port, prefix))
    (prefix / "nginx.conf").write_text(MAIN.format(d=prefix))
    argv = [binary, "-p", str(prefix), "-e", str(prefix / "error.log"),
            "-c", str(prefix / "nginx.conf")]  # fmt: skip
    if os.geteuid() == 0:  # never as root: drop to nobody, who owns the prefix
        for path in [prefix, *prefix.rglob("*")]:
            os.chown(path, 65534, 65534)
        prefix.chmod(0o755)
        argv = [require("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(httpx.TransportError), httpx.Client(verify=False) as client:
                if client.get(f"https://127.0.0.1:{https_port}/healthz").status_code == 200:
                    break
            assert proc.poll() is None, (prefix / "error.log").read_text()
            assert time.monotonic() < deadline, (prefix / "error.log").read_text()
            time.sleep(0.05)
        yield {"https": https_port, "http": http_port, "cert": prefix / "cert.pem",
               "prefix": prefix, "proc": proc}  # fmt: skip
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(prefix, ignore_errors=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Replica], dict]]:
    logs = Path(tmp_path_factory.mktemp("nginx"))
    redis = RedisServer(logs / "redis")
    replicas: list[Replica] = []
    try:
        for name in ("front1", "front2"):
            replicas.append(start_replica(name, redis.url, logs, twilio_auth_token=TWILIO_TOKEN,
                                          forwarded_allow_ips="127.0.0.1"))  # fmt: skip
        with nginx(replicas) as running:
            yield replicas, running
    finally:
        for replica in replicas:
            replica.stop()
        redis.stop()


class Front:
    """What the fake carriers need: the public wss:// base."""

    def __init__(self, port: int) -> None:
        self.ws = f"wss://127.0.0.1:{port}"


async def bridges(replicas: list[Replica]) -> float:
    total = 0.0
    async with httpx.AsyncClient() as client:
        for replica in replicas:
            text = (await client.get(f"{replica.http}/metrics")).text
            found = re.search(r'^voxgate_cluster_bridges_total\{direction="out"\} (\S+)$', text,
                              re.MULTILINE)  # fmt: skip
            total += float(found.group(1)) if found else 0.0
    return total


async def attach_from(address: str, base: str, call: str) -> tuple[Any, dict[str, Any]]:
    """Attach from a chosen source address, retried while the call is still registering."""
    url = f"{base}/v1/speak?call={call}&token={API_KEY}&listen=0&speed=2.0"
    deadline = time.monotonic() + 5
    while True:
        ws = await websockets.connect(url, local_addr=(address, 0))
        first = json.loads(await ws.recv())
        if first["type"] == "ready":
            return ws, first
        await ws.close()
        assert first["code"] == "unknown_call" and time.monotonic() < deadline, first
        await asyncio.sleep(0.02)


async def test_a_twilio_call_and_its_app_through_nginx_over_tls(site, monkeypatch) -> None:
    replicas, running = site
    monkeypatch.setenv("SSL_CERT_FILE", str(running["cert"]))  # trust the test's certificate
    front = Front(running["https"])
    twilio_url = f"{front.ws}/twilio"
    # Signed for the URL Twilio dialled: valid only if the replica sees wss:// and the Host.
    signature = twilio_signature(TWILIO_TOKEN, twilio_url)
    wrong = twilio_signature(TWILIO_TOKEN, twilio_url.replace("wss://", "ws://"))
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(twilio_url, additional_headers={"X-Twilio-Signature": wrong})
    assert refused.value.response.status_code == 403

    class SignedTwilio(Twilio):
        def headers(self) -> dict[str, str]:
            return {"X-Twilio-Signature": signature}

    async with SignedTwilio(front, Twilio.new_id()) as carrier:
        before = await bridges(replicas)
        ws, ready = await attach_from(CLIENT_ADDRESS, front.ws, carrier.call_id)
        try:
            assert (ready["type"], ready["call"]) == ("ready", carrier.call_id)
            assert await bridges(replicas) >= before + 1  # least_conn: the other replica
            text = "Your driver is two minutes away."
            await ws.send(json.dumps({"type": "text", "text": text}))
            await ws.send(json.dumps({"type": "flush"}))
            await wait_until(lambda: expected_speech(text, carrier.fmt) in bytes(carrier.audio),
                             15, "speech through nginx")  # fmt: skip
        finally:
            await ws.close()
        app = await attach(front.ws, call=carrier.call_id, token=API_KEY, listen=0)
        await carrier.press("3")
        assert (await app.first("dtmf"))["digit"] == "3"
        await carrier.hang_up()
        assert (await app.first("call_ended"))["reason"] == "stop"
        await app.close()
    logs = "".join(r.log() for r in replicas)
    assert f'"client": "{CLIENT_ADDRESS}"' in logs  # X-Forwarded-For, trusted from nginx only


async def test_only_the_public_paths_are_proxied(site) -> None:
    replicas, running = site
    base = f"https://127.0.0.1:{running['https']}"
    trust = ssl.create_default_context(cafile=str(running["cert"]))
    async with httpx.AsyncClient(verify=trust) as client:
        assert (await client.get(f"{base}/healthz")).status_code == 200
        voices = await client.get(
            f"{base}/v1/voices", headers={"Authorization": f"Bearer {API_KEY}"}
        )
        assert voices.status_code == 200
        for internal in ("/internal/bridge?call=x", "/metrics", "/readyz", "/anything-else"):
            assert (await client.get(base + internal)).status_code == 404, internal
        plain = await client.get(f"http://127.0.0.1:{running['http']}/twilio")
        assert plain.status_code == 301 and plain.headers["location"].startswith("https://")
    for replica in replicas:  # on the private side, the replicas still serve them
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{replica.http}/readyz")).status_code == 200
