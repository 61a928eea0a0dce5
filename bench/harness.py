"""Helpers shared by the benchmarks in bench/: process statistics from /proc,
percentiles, Daphne log summaries, manage.py calls, a hard time limit, and Daphne
serving an ASGI application other than Baton's.

The benchmarks start everything they talk to themselves (tests/servers.py), on
loopback ports only."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from config.runner import wait_for_port  # noqa: E402
from tests.servers import DaphneServer  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- processes --------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) (\S+) (.{0,60})")


def log_summary(log: str) -> str:
    """Warnings and errors in a Daphne log, grouped by level, logger and message start,
    plus the channel layer's "over capacity" drops (logged at INFO by the core layer)."""
    found = Counter()
    for line in log.splitlines():
        match = LOG_LINE.match(line)
        if match:
            found[" ".join(match.groups())] += 1
    over = log.count("over capacity")
    parts = [f"{over} 'over capacity'"]
    parts += [f"{count}x {what!r}" for what, count in found.most_common(5)]
    return ", ".join(parts)


def subscriptions_left(redis_url: str, *, seconds: float) -> int:
    """Wait up to `seconds` for the servers' consumers to finish the cleanup that follows
    their sockets closing (each unsubscribes its channel and leaves its groups); return
    how many channel-layer subscriptions Redis still has (0: all done; more: a leak).

    Stop a server only after this: Daphne's shutdown cancels a consumer still cleaning
    up, and channels_redis logs that second cancellation as "ERROR ... Unexpected
    exception while cleaning-up channel" (measured: 200 widget sockets closed, SIGTERM
    100 ms later: 147 of those; after this wait: none)."""
    import redis as redis_client

    client = redis_client.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + seconds
        while True:
            # the channel layer's channels and groups ("asgi" is its default prefix)
            left = len(client.pubsub_channels("asgi*"))
            if left == 0 or time.monotonic() > deadline:
                return left
            time.sleep(0.05)
    finally:
        client.close()


def run_manage(args: list[str], env: dict[str, str], timeout: float) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"manage.py {' '.join(args)} failed with code {result.returncode}")


class HardLimit:
    """Kill the children and leave (exit code 3) if the run outlives `seconds`: the
    benchmark's own time limits are polite, this one is not."""

    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds
        self.children: list = []  # anything with .process or .processes (subprocess.Popen)
        self.timer = threading.Timer(seconds, self.fire)
        self.timer.daemon = True

    def start(self) -> HardLimit:
        self.timer.start()
        return self

    def fire(self) -> None:
        sys.stderr.write(f"{self.name}: over the hard limit of {self.seconds:.0f} s, stopping\n")
        for child in self.children:
            processes = getattr(child, "processes", None) or [getattr(child, "process", None)]
            for process in processes:
                if process is not None and process.poll() is None:
                    process.kill()
        os._exit(3)

    def cancel(self) -> None:
        self.timer.cancel()


class AsgiDaphne(DaphneServer):
    """tests.servers.DaphneServer serving any ASGI application ("module:attribute"),
    e.g. the Channels tutorial peer in bench/peer_app.py; with `processes`, several
    Daphne processes on one port, as for Baton."""

    def __init__(
        self,
        *,
        application: str,
        redis_url: str,
        extra_env: dict[str, str],
        processes: int = 1,
    ) -> None:
        super().__init__(redis_url=redis_url, extra_env=extra_env, processes=processes)
        self.application = application

    def environment(self) -> dict[str, str]:
        return {**os.environ, "REDIS_URL": self.redis_url, **self.extra_env}


class ScriptServer(DaphneServer):
    """A Python script in bench/ started with `--port N` (the raw websocket relay),
    managed like the Daphne children: free port, log file, stop(). One process, on a
    port of its own (it binds it itself)."""

    def __init__(self, *, script: str, extra_args: list[str] | None = None) -> None:
        super().__init__(redis_url="")
        self.script = script
        self.extra_args = extra_args or []

    def start(self) -> ScriptServer:
        process = subprocess.Popen(
            [
                sys.executable,
                str(BASE_DIR / "bench" / self.script),
                "--port",
                str(self.port),
                *self.extra_args,
            ],
            cwd=BASE_DIR,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.processes = [process]
        wait_for_port("127.0.0.1", self.port, seconds=30, what=self.script, process=process)
        return self


def processes_by_client(server: DaphneServer) -> dict[tuple[str, int], int]:
    """The pid of the server's process that holds each established connection on its
    port, by the client's end of it (host, port)."""
    import psutil

    found = {}
    for pid in server.pids:
        for connection in psutil.Process(pid).net_connections(kind="tcp"):
            if (
                connection.status == psutil.CONN_ESTABLISHED
                and connection.laddr.port == server.port
                and connection.raddr
            ):
                found[(connection.raddr.ip, connection.raddr.port)] = pid
    return found


def connections_per_process(server: DaphneServer) -> list[int]:
    """Established connections each of the server's processes holds on its port, in the
    order of server.pids (the kernel picks which process accepts a connection)."""
    held = Counter(processes_by_client(server).values())
    return [held[pid] for pid in server.pids]


def operator_session_key(user) -> str:
    """A logged-in Django session for `user` in the configured database, as the
    admin login would leave it (the console websocket authenticates with its cookie)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def fast_password_hashing() -> None:
    """Operators made by a benchmark never log in with their password (they get a
    session directly): hash it with MD5 in this process instead of spending ~0.3 s
    of PBKDF2 per operator. The servers are unaffected."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
