"""`make run`'s supervisor: it starts Redis, Celery and Daphne, restarts one that dies
(killing what is left of it), and Ctrl-C stops them all, cleanly and in order."""

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request

import psutil
import pytest
import redis

from config.runner import BASE_DIR
from tests.servers import free_port, wait_until


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status
    except OSError:
        return 0


def redis_answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.ConnectionError:
        return False


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Runner:
    """`python -m config.runner` on a fresh var directory and free ports, its output kept."""

    def __init__(self, tmp_path) -> None:
        self.port, self.redis_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "BATON_VAR_DIR": str(tmp_path),
            "PORT": str(self.port),
            "BATON_EMBEDDED_REDIS_PORT": str(self.redis_port),
            "DEBUG": "1",
            "CELERY_CONCURRENCY": "1",
        }
        for name in ("REDIS_URL", "DATABASE_URL", "SECRET_KEY"):
            self.env.pop(name, None)
        self.lines: list[str] = []
        self.process: subprocess.Popen | None = None

    def start(self) -> "Runner":
        for command in (["migrate", "--noinput"], ["load_demo"]):
            subprocess.run(
                [sys.executable, "manage.py", *command],
                env=self.env,
                cwd=BASE_DIR,
                check=True,
                capture_output=True,
            )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "config.runner"],
            env=self.env,
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(
            target=lambda: self.lines.extend(self.process.stdout), daemon=True
        )
        self.reader.start()
        wait_until(lambda: any("Operator login" in line for line in self.lines), seconds=90)
        return self

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def pids(self, name: str) -> list[int]:
        return [
            int(pid) for pid in re.findall(rf"runner: {name} started \(pid (\d+)\)", self.output)
        ]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def runner(tmp_path):
    runner = Runner(tmp_path)
    yield runner
    runner.kill()
    print(runner.output)  # shown when the test fails


def test_runner_starts_everything_and_ctrl_c_stops_it_all_cleanly(runner):
    # given: everything listens
    runner.start()
    assert http_status(f"http://127.0.0.1:{runner.port}/healthz") == 200
    assert http_status(f"http://127.0.0.1:{runner.port}/demo/") == 200
    assert redis_answers(runner.redis_port)
    children = [*runner.pids("redis"), *runner.pids("celery"), *runner.pids("daphne")]
    family = [
        member.pid for pid in children for member in psutil.Process(pid).children(recursive=True)
    ]
    # when
    code = runner.stop()
    # then: every process is gone, Daphne and Celery stopped before Redis, nothing complained
    assert code == 0
    output = runner.output
    assert f"http://127.0.0.1:{runner.port}/demo/" in output
    assert "operator / baton-operator" in output
    assert http_status(f"http://127.0.0.1:{runner.port}/healthz") == 0
    assert not redis_answers(runner.redis_port)
    assert all(gone(pid) for pid in children + family)
    assert "Traceback" not in output
    assert "Connection refused" not in output
    assert "Error" not in output


def test_a_killed_worker_is_restarted_and_leaves_no_orphan(runner):
    # given: the worker and its children (one pool process and the embedded beat)
    runner.start()
    [worker] = runner.pids("celery")
    wait_until(lambda: len(psutil.Process(worker).children()) == 2, seconds=30)
    family = psutil.Process(worker).children(recursive=True)
    # when
    os.kill(worker, signal.SIGKILL)
    # then: the runner says so, kills the orphaned children and starts a new worker
    wait_until(lambda: len(runner.pids("celery")) == 2, seconds=30)
    assert f"celery (pid {worker}) exited with code -9; restarting in 1 s" in runner.output
    assert all(gone(child.pid) for child in family)
    new_worker = runner.pids("celery")[1]
    wait_until(lambda: len(psutil.Process(new_worker).children()) == 2, seconds=30)
    # and the rest of the stack never stopped
    assert http_status(f"http://127.0.0.1:{runner.port}/healthz") == 200
    assert runner.stop() == 0
    assert gone(new_worker)


def test_a_killed_redis_is_restarted(runner):
    runner.start()
    [first] = runner.pids("redis")
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: len(runner.pids("redis")) == 2, seconds=30)
    wait_until(lambda: redis_answers(runner.redis_port), seconds=30)
    wait_until(lambda: http_status(f"http://127.0.0.1:{runner.port}/healthz") == 200, seconds=30)
    assert runner.stop() == 0


def test_children_stop_when_the_runner_itself_is_killed(runner):
    # given
    runner.start()
    children = [*runner.pids("redis"), *runner.pids("celery"), *runner.pids("daphne")]
    family = [
        member.pid for pid in children for member in psutil.Process(pid).children(recursive=True)
    ]
    # when: the runner gets no chance to stop them
    runner.process.kill()
    runner.process.wait()
    # then
    wait_until(lambda: all(gone(pid) for pid in children + family), seconds=30)


def test_celery_logs_warnings_by_default_so_the_banner_stays_in_view():
    from config.runner import build_children

    def celery_level(env: dict) -> str:
        command = next(
            child
            for child in build_children(env, host="127.0.0.1", port=1)
            if child.name == "celery"
        ).command
        return command[command.index("--loglevel") + 1]

    assert celery_level({"REDIS_URL": "redis://127.0.0.1:1/0"}) == "WARNING"
    assert (
        celery_level({"REDIS_URL": "redis://127.0.0.1:1/0", "BATON_CELERY_LOG_LEVEL": "INFO"})
        == "INFO"
    )
