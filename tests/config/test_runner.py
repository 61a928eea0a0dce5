"""`make run`'s supervisor: it starts Redis, Celery and Daphne, serves, and Ctrl-C stops all."""

import os
import signal
import subprocess
import sys
import threading
import urllib.request

import redis

from config.runner import BASE_DIR
from tests.servers import free_port, wait_until


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status
    except OSError:
        return 0


def test_runner_starts_everything_and_ctrl_c_stops_it_all(tmp_path):
    # given: a fresh var directory (database, secret key) and free ports
    port, redis_port = free_port(), free_port()
    env = {
        **os.environ,
        "BATON_VAR_DIR": str(tmp_path),
        "PORT": str(port),
        "BATON_EMBEDDED_REDIS_PORT": str(redis_port),
        "DEBUG": "1",
        "CELERY_CONCURRENCY": "1",
    }
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    for command in (["migrate", "--noinput"], ["load_demo"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            env=env,
            cwd=BASE_DIR,
            check=True,
            capture_output=True,
        )
    runner = subprocess.Popen(
        [sys.executable, "-m", "config.runner"],
        env=env,
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(runner.stdout), daemon=True)
    reader.start()
    try:
        # when: the banner is printed once everything listens
        wait_until(lambda: any("Operator login" in line for line in lines), seconds=90)
        assert http_status(f"http://127.0.0.1:{port}/healthz") == 200
        # then
        assert http_status(f"http://127.0.0.1:{port}/demo/") == 200
        assert redis.Redis(port=redis_port).ping()
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0
    output = "".join(lines)
    assert f"http://127.0.0.1:{port}/demo/" in output
    assert "operator / baton-operator" in output
    assert http_status(f"http://127.0.0.1:{port}/healthz") == 0
    with_redis_gone = redis.Redis(port=redis_port, socket_connect_timeout=1)
    try:
        with_redis_gone.ping()
        redis_alive = True
    except redis.ConnectionError:
        redis_alive = False
    assert redis_alive is False
