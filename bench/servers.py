"""Real servers on loopback, as subprocesses, with their CPU time read from /proc.

The benchmark client runs in this process and the server in another, so the
server's CPU figure (`utime + stime` of its process, all threads) is its own
cost and not the client's. Every server is started on a free port, waited for
with a bounded health check, and always terminated, even when a scenario fails.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a whole process (every thread, living or exited)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        raw = f.read()
    # The command name (field 2) may hold spaces; fields after its ')' are fixed.
    rest = raw.rsplit(")", 1)[1].split()
    utime, stime = int(rest[11]), int(rest[12])
    return (utime + stime) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


@dataclass
class Server:
    """A started server process: where it listens and how to read its CPU."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> float:
        return rss_mib(self.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 8.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _wait_healthy(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited at start:\n{server.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
            try:
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    return
            finally:
                conn.close()
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(
        f"{server.name} did not become healthy in {timeout:.0f} s:\n{server.log_tail()}"
    )


def _spawn(name: str, argv: list[str], env: Mapping[str, str], port: int, log_dir: Path) -> Server:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = {**os.environ, **env}
    with open(log_path, "ab") as log:
        log.write(f"\n--- {time.ctime()} {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Server(name, proc, port, log_path, dict(env))


def start_gateway(
    name: str,
    settings: Mapping[str, object],
    log_dir: Path,
    *,
    timeout: float = 60.0,
    preload: bool = True,
) -> Server:
    """`python -m gateway serve` with `VOXGATE_*` settings; the engine loaded before returning.

    Settings are passed as environment variables (`engine` -> `VOXGATE_ENGINE`), the
    same names a user would set. The audio cache is off unless a scenario asks
    for it: benchmark texts repeat, and a cache hit would hide the engine.
    """
    port = free_port()
    env = {
        "VOXGATE_CACHE_ENTRIES": "0",
        "VOXGATE_LOG_LEVEL": "warning",
        "VOXGATE_IDLE_UNLOAD_S": "0",
    }
    env.update({f"VOXGATE_{k.upper()}": str(v) for k, v in settings.items()})
    argv = [
        sys.executable,
        "-m",
        "gateway",
        "serve",
        "--port",
        str(port),
        "--audiosocket-port",
        "0",
    ]
    server = _spawn(name, argv, env, port, log_dir)
    try:
        _wait_healthy(server, "/healthz", timeout)
        if preload:  # the voice list loads the engine (readiness deliberately does not)
            keys = str(settings.get("api_keys", "")).split(",")
            _wait_healthy(server, "/v1/voices" + (f"?token={keys[0]}" if keys[0] else ""), timeout)
    except BaseException:  # Ctrl-C included: never leave a server behind
        server.stop()
        raise
    return server


@contextlib.contextmanager
def gateway(
    name: str, settings: Mapping[str, object], log_dir: Path, **kw: object
) -> Iterator[Server]:
    server = start_gateway(name, settings, log_dir, **kw)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def wait_started(server: Server, path: str, timeout: float) -> Server:
    try:
        _wait_healthy(server, path, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def spawn(name: str, argv: list[str], env: Mapping[str, str], port: int, log_dir: Path) -> Server:
    return _spawn(name, argv, env, port, log_dir)
