"""`make run`'s supervisor: it starts Redis, Celery (a worker with beat, and a worker of
its own for report builds) and Daphne (WEB_CONCURRENCY processes on one port), restarts
one that dies (killing what is left of it), and Ctrl-C stops them all, cleanly and in
order."""

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import psutil
import pytest
import redis
from celery import Celery

from config.celery import app as celery_app
from config.runner import BASE_DIR
from tests.servers import free_port, pid_holding, wait_until


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


def healthz_answered_by(port: int, pids: list[int]) -> int | None:
    """GET /healthz on a new connection; which of `pids` answered it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        # keep-alive: the connection is still open, held by the process that answered
        return pid_holding(pids, connection.sock.getsockname())
    finally:
        connection.close()


def every_process_answers(port: int, pids: list[int]) -> None:
    """Requests, one connection each, until each of `pids` has answered one (the kernel
    picks the process; this waits, it does not assert how the kernel spreads them)."""
    answered = set()

    def all_answered() -> bool:
        answered.add(healthz_answered_by(port, pids))
        return answered == set(pids)

    wait_until(all_answered, seconds=60)


def worker_queues(redis_port: int, *, workers: int = 2) -> dict[str, list[str]]:
    """The queues each running Celery worker consumes, as they report them, by the first
    part of their node name (`celery@host`, `reports@host`), once all `workers` answer."""
    app = Celery(broker=f"redis://127.0.0.1:{redis_port}/0")

    def all_answer() -> dict | None:
        replies = app.control.inspect(timeout=2).active_queues() or {}
        return replies if len(replies) == workers else None

    try:
        replies = wait_until(all_answer, seconds=60)
    finally:
        app.close()
    return {
        node.split("@")[0]: sorted(queue["name"] for queue in queues)
        for node, queues in replies.items()
    }


def pool_processes(pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(pid).children()]


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
            "WEB_CONCURRENCY": "1",
        }
        for name in ("REDIS_URL", "DATABASE_URL", "SECRET_KEY"):
            self.env.pop(name, None)
        self.lines: list[str] = []
        self.process: subprocess.Popen | None = None

    def start(self) -> "Runner":
        # as `make run` does
        for command in (
            ["migrate", "--noinput"],
            ["load_demo", "--with-history"],
            ["load_demo_analyst"],
        ):
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
    # the worker with beat consumes the default queue, Telegram's and the webhooks'; report builds
    # have a worker of their own
    assert worker_queues(runner.redis_port) == {
        "celery": ["celery", "telegram", "webhooks"],
        "reports": ["reports"],
    }
    children = [
        *runner.pids("redis"),
        *runner.pids("celery"),
        *runner.pids("reports-worker"),
        *runner.pids("daphne"),
    ]
    assert len(children) == 4
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
    analyst = f"http://127.0.0.1:{runner.port}/reports/dialogs/   login analyst / baton-analyst"
    assert analyst in output
    assert "Celery worker for report builds (queue reports)" in output
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


def test_the_reports_worker_replaces_its_pool_process_after_a_build_and_is_restarted(runner):
    # given: the reports worker and its one pool process
    runner.start()
    [worker] = runner.pids("reports-worker")
    [first_pool] = wait_until(lambda: pool_processes(worker), seconds=30)
    # when: a build is sent as the site sends it (config.celery's routes), for a job
    # that does not exist (the task finds nothing to claim)
    app = Celery(broker=f"redis://127.0.0.1:{runner.redis_port}/0")
    app.conf.task_routes = celery_app.conf.task_routes
    try:
        app.send_task("reports.build_job", args=(0,), ignore_result=True)
    finally:
        app.close()
    # then: it reaches the reports worker, whose pool process is replaced after the
    # task (the memory a huge export took goes back to the system)
    [second_pool] = wait_until(
        lambda: [pid for pid in pool_processes(worker) if pid != first_pool], seconds=30
    )
    assert gone(first_pool)
    # when: the worker itself is killed
    os.kill(worker, signal.SIGKILL)
    # then: the runner kills its orphaned pool process and starts a new worker
    wait_until(lambda: len(runner.pids("reports-worker")) == 2, seconds=30)
    assert f"reports-worker (pid {worker}) exited with code -9; restarting in 1 s" in runner.output
    assert gone(second_pool)
    new_worker = runner.pids("reports-worker")[1]
    assert worker_queues(runner.redis_port)["reports"] == ["reports"]
    # and the rest of the stack never stopped
    assert len(runner.pids("celery")) == 1
    assert http_status(f"http://127.0.0.1:{runner.port}/healthz") == 200
    assert runner.stop() == 0
    assert gone(new_worker)


def test_web_processes_share_one_port_a_dead_one_is_restarted_and_ctrl_c_stops_all(runner):
    # given: two Daphne processes
    runner.env["WEB_CONCURRENCY"] = "2"
    runner.start()
    daphnes = runner.pids("daphne")
    assert len(daphnes) == 2
    # then: both answer requests on the one port
    every_process_answers(runner.port, daphnes)
    # when: one of them dies
    os.kill(daphnes[0], signal.SIGKILL)
    # then: once the runner has closed the dead one's socket, the other takes every new
    # connection; the dead one is restarted with a new socket on the same port
    died = f"daphne (pid {daphnes[0]}) exited with code -9; restarting in 1 s"
    wait_until(lambda: died in runner.output, seconds=30)
    assert http_status(f"http://127.0.0.1:{runner.port}/healthz") == 200
    wait_until(lambda: len(runner.pids("daphne")) == 3, seconds=30)
    serving = [daphnes[1], runner.pids("daphne")[2]]
    every_process_answers(runner.port, serving)
    family = [member.pid for pid in serving for member in psutil.Process(pid).children()]
    # when
    code = runner.stop()
    # then
    assert code == 0
    assert http_status(f"http://127.0.0.1:{runner.port}/healthz") == 0
    assert not redis_answers(runner.redis_port)
    assert all(gone(pid) for pid in serving + family)
    assert "Traceback" not in runner.output
    assert "Error" not in runner.output


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
    children = [
        *runner.pids("redis"),
        *runner.pids("celery"),
        *runner.pids("reports-worker"),
        *runner.pids("daphne"),
    ]
    family = [
        member.pid for pid in children for member in psutil.Process(pid).children(recursive=True)
    ]
    # when: the runner gets no chance to stop them
    runner.process.kill()
    runner.process.wait()
    # then
    wait_until(lambda: all(gone(pid) for pid in children + family), seconds=30)


def celery_command(env: dict, name: str = "celery") -> list[str]:
    from config.runner import build_children

    return next(
        child
        for child in build_children(env, host="127.0.0.1", port=1, web_processes=1)
        if child.name == name
    ).command


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_banner_prints_each_login_with_where_to_use_it(capsys):
    from config.runner import print_banner

    # when: listening on every address
    print_banner(host="0.0.0.0", port=8123)  # noqa: S104
    # then: the loopback addresses, the demo logins as load_demo makes them
    lines = capsys.readouterr().out.splitlines()
    assert "  Demo page (the widget on a customer's site): http://127.0.0.1:8123/demo/" in lines
    assert "  Admin:   http://127.0.0.1:8123/admin/   login admin / baton-admin" in lines
    assert "  Operator login: operator / baton-operator" in lines
    analyst = "  Analyst: http://127.0.0.1:8123/reports/dialogs/   login analyst / baton-analyst"
    assert analyst in lines


def test_the_banner_lists_what_runs(capsys):
    from config.runner import build_children, print_banner, what_runs

    # given: what `make run` starts with REDIS_URL set (no embedded Redis)
    children = build_children(
        {"REDIS_URL": "redis://127.0.0.1:1/0"},
        host="0.0.0.0",  # noqa: S104
        port=8123,
        web_processes=2,
    )
    # when
    print_banner(host="0.0.0.0", port=8123, running=what_runs(children))  # noqa: S104
    # then: one line each, the Daphne processes counted
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("  Running: Celery worker with beat (queues celery, telegram, webhooks)")
    assert lines[start + 1 : start + 3] == [
        "           Celery worker for report builds (queue reports)",
        "           2 Daphne process(es) on 0.0.0.0:8123",
    ]


def test_celery_logs_warnings_by_default_so_the_banner_stays_in_view():
    def celery_level(env: dict) -> str:
        command = celery_command(env)
        return command[command.index("--loglevel") + 1]

    assert celery_level({"REDIS_URL": "redis://127.0.0.1:1/0"}) == "WARNING"
    assert (
        celery_level({"REDIS_URL": "redis://127.0.0.1:1/0", "BATON_CELERY_LOG_LEVEL": "INFO"})
        == "INFO"
    )


def test_the_worker_consumes_the_queues_named_in_baton_celery_queues():
    def queues(env: dict) -> str:
        command = celery_command({"REDIS_URL": "redis://127.0.0.1:1/0", **env})
        return command[command.index("--queues") + 1]

    assert queues({}) == "celery,telegram,webhooks"
    assert queues({"BATON_CELERY_QUEUES": ""}) == "celery,telegram,webhooks"
    assert queues({"BATON_CELERY_QUEUES": " celery , telegram, reports "}) == (
        "celery,telegram,reports"
    )


def test_report_builds_have_a_worker_of_their_own_one_build_at_a_time():
    redis = {"REDIS_URL": "redis://127.0.0.1:1/0"}
    command = celery_command(redis, "reports-worker")
    # the reports queue alone, under a node name of its own (control replies of two
    # workers named alike on one machine would be taken for one), without beat
    assert command[1:4] == ["-A", "config", "worker"]
    assert option(command, "--queues") == "reports"
    assert option(command, "--hostname") == "reports@%h"
    assert "--beat" not in command
    # one build at a time, in a pool process replaced after each task
    assert option(command, "--concurrency") == "1"
    assert option(command, "--max-tasks-per-child") == "1"
    assert option(command, "--loglevel") == "WARNING"
    # CELERY_CONCURRENCY is the other worker's; the reports worker has its own
    env = {**redis, "CELERY_CONCURRENCY": "4", "CELERY_REPORTS_CONCURRENCY": "2"}
    assert option(celery_command(env, "reports-worker"), "--concurrency") == "2"
    assert option(celery_command(env), "--concurrency") == "4"
    # the worker with beat does not consume the reports queue
    assert "reports" not in option(celery_command(redis), "--queues").split(",")


def test_web_concurrency_defaults_to_one_process_per_core_and_refuses_nonsense():
    from config.runner import web_concurrency

    assert web_concurrency({}) == (os.cpu_count() or 1)
    assert web_concurrency({"WEB_CONCURRENCY": "3"}) == 3
    for wrong in ("0", "-1", "two"):
        with pytest.raises(SystemExit, match="WEB_CONCURRENCY must be a number of processes"):
            web_concurrency({"WEB_CONCURRENCY": wrong})


def test_web_mode_starts_only_daphne_processes():
    from config.runner import build_children

    children = build_children(
        {"REDIS_URL": "redis://127.0.0.1:1/0"},
        host="0.0.0.0",  # noqa: S104
        port=8000,
        web_processes=3,
        web_only=True,
    )
    assert [child.name for child in children] == ["daphne"] * 3
    assert all(child.address == ("0.0.0.0", 8000) for child in children)  # noqa: S104


def test_web_mode_runs_only_the_web_processes_without_turning_debug_on(tmp_path, redis_url):
    # given: what the image runs (DEBUG off, Redis elsewhere)
    port = free_port()
    env = {
        **os.environ,
        "BATON_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "web-mode-test-only",
        "SECURE_SSL_REDIRECT": "0",
        "HOST": "0.0.0.0",  # noqa: S104 - as in the image
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    for name in ("DEBUG", "BATON_DATABASE_NAME"):
        env.pop(name, None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        env=env,
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "config.runner", "web"],
        env=env,
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("serving" in line for line in lines), seconds=90)
        # then: two Daphne processes and nothing else; DEBUG stayed off
        output = "".join(lines)
        started = re.findall(r"runner: (\w+) started \(pid (\d+)\)", output)
        assert [name for name, _ in started] == ["daphne", "daphne"]
        assert http_status(f"http://127.0.0.1:{port}/healthz") == 200
        every_process_answers(port, [int(pid) for _, pid in started])
        with pytest.raises(urllib.error.HTTPError) as not_found:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page/", timeout=5)  # noqa: S310
        assert b"URLconf" not in not_found.value.read()
        # when: the container is stopped
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        # then
        assert http_status(f"http://127.0.0.1:{port}/healthz") == 0
        assert all(gone(int(pid)) for _, pid in started)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        print("".join(lines))  # shown when the test fails


def test_the_runner_refuses_a_port_another_runner_already_listens_on():
    from config.runner import listening_socket, port_is_free

    # given: a web socket of another runner (SO_REUSEPORT, which would let us join it)
    with listening_socket("127.0.0.1", 0) as other:
        port = other.getsockname()[1]
        # then
        with pytest.raises(SystemExit, match=f"cannot listen on 127.0.0.1:{port}"):
            port_is_free("127.0.0.1", port)
