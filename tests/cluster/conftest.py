"""Fixtures for the cluster tests: one Redis and two replicas per module that asks for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .processes import RedisServer, Replica, start_replica


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("cluster"))


@pytest.fixture(scope="module")
def redis_server(logs: Path) -> Iterator[RedisServer]:
    server = RedisServer(logs / "redis")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def replicas(redis_server: RedisServer, logs: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for name in ("replica1", "replica2"):
            started.append(start_replica(name, redis_server.url, logs))
        yield started
    finally:
        for replica in started:
            replica.stop()
