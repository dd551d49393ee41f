"""The deployment files agree with the code and with each other.

Docker and a Kubernetes cluster are not available to the test suite, so what
can drift is checked here: every `VOXGATE_*` variable the guide and the files
name is a real setting; the Compose network puts the gateways at the addresses
the shipped nginx site proxies to, and trusts forwarded headers from nginx
only; every WebSocket carrier is proxied by nginx and routed by the Ingress
while the internal paths are not; and each supervisor waits longer than the
drain it is given. (tests/deploy/test_nginx.py runs the nginx file itself.)
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from gateway.config import Settings
from telephony.carriers import carrier, names

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SETTINGS = {f"VOXGATE_{f.name.upper()}" for f in fields(Settings)}
WS_CARRIERS = sorted(n for n in names() if carrier(n).transport == "websocket")
INTERNAL = ("/internal", "/readyz", "/metrics")


def test_every_setting_the_guide_and_the_files_name_exists() -> None:
    for path in [REPO / "docs" / "deploy.md", *sorted(DEPLOY.iterdir())]:
        named = set(re.findall(r"VOXGATE_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
        assert named, path
        assert sorted(named - SETTINGS) == [], path.name


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_puts_the_gateways_where_the_nginx_site_proxies() -> None:
    services = compose()["services"]
    upstreams = re.findall(
        r"server (\d+\.\d+\.\d+\.\d+):(\d+)", (DEPLOY / "nginx.conf").read_text()
    )
    gateways = {n: s for n, s in services.items() if n.startswith("gateway")}
    assert len(gateways) == len(upstreams) == 2
    addresses = {s["networks"]["voxgate"]["ipv4_address"] for s in gateways.values()}
    assert addresses == {ip for ip, port in upstreams} and {p for _, p in upstreams} == {"8080"}
    nginx_ip = services["nginx"]["networks"]["voxgate"]["ipv4_address"]
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in services["nginx"]["volumes"]
    for service in gateways.values():
        env = service["environment"]
        own = service["networks"]["voxgate"]["ipv4_address"]
        assert env["VOXGATE_CLUSTER_ADDRESS"] == f"http://{own}:8080"  # the bridge reaches it
        assert env["VOXGATE_FORWARDED_ALLOW_IPS"] == nginx_ip  # nobody else sets X-Forwarded-*
        assert env["VOXGATE_REDIS_URL"].startswith("redis://")
        grace = int(service["stop_grace_period"].rstrip("s"))
        assert grace > float(env["VOXGATE_DRAIN_S"])
    engine = services["engine"]
    assert engine["profiles"] == ["gpu"] and engine["environment"]["VOXGATE_ENGINE"] == "qwen"


def test_nginx_proxies_every_websocket_carrier_and_no_internal_path() -> None:
    site = (DEPLOY / "nginx.conf").read_text()
    proxied = re.search(r"location ~ \^/\(([a-z|]+)\)\$", site)
    assert proxied is not None and sorted(proxied.group(1).split("|")) == WS_CARRIERS
    for path in INTERNAL:
        assert re.search(rf"location (= )?{path}/? {{\s*return 404;", site), path


def kubernetes() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()) if d]


def test_kubernetes_routes_the_public_paths_and_drains_within_its_grace() -> None:
    docs = kubernetes()
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    paths = {p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert {f"/{n}" for n in WS_CARRIERS} | {"/v1"} <= paths
    assert not any(p.startswith(INTERNAL) for p in paths)
    gateway = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "voxgate"
    )
    pod = gateway["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert sorted(set(env) - SETTINGS) == ["POD_IP"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + float(env["VOXGATE_DRAIN_S"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == "/readyz" and ports[probe["port"]] == int(env["VOXGATE_OPS_PORT"])
    assert env["VOXGATE_CLUSTER_ADDRESS"] == "http://$(POD_IP):8080"
    engines = next(d for d in docs if d["kind"] == "StatefulSet")
    count = engines["spec"]["replicas"]
    assert len(env["VOXGATE_REMOTE_URL"].split(",")) == count  # every engine pod, by name
