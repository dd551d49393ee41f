"""Read one figure from a gateway's Prometheus `/metrics` page."""

from __future__ import annotations

import urllib.request

from .servers import Server


def metrics_text(server: Server, timeout: float = 10.0) -> str:
    with urllib.request.urlopen(f"{server.http}/metrics", timeout=timeout) as resp:
        return resp.read().decode("utf-8")


def parse(text: str, name: str) -> float:
    """Sum of every sample named exactly `name` (all label sets); 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{", 1)[0] == name:
            total += float(value)
    return total


def metric(server: Server, name: str) -> float:
    return parse(metrics_text(server), name)
