"""Every Celery queue a task is routed to has a worker in production (docker-compose.yml),
and the report files are on a volume that every process using them mounts."""

from __future__ import annotations

import re

from config.celery import REPORTS_QUEUE, WEBHOOKS_QUEUE
from config.celery import app as celery_app
from config.runner import BASE_DIR

COMPOSE = (BASE_DIR / "docker-compose.yml").read_text()
SERVICES = COMPOSE[COMPOSE.index("\nservices:\n") : COMPOSE.index("\nvolumes:\n")]


def service(name: str) -> str:
    """The lines of one service of docker-compose.yml (two-space indented name)."""
    match = re.search(rf"^  {re.escape(name)}:\n((?:    .*\n|\s*\n)+)", SERVICES, re.MULTILINE)
    assert match, f"no service {name!r} in docker-compose.yml"
    return match.group(1)


def command(name: str) -> list[str]:
    [line] = re.findall(r"^    command: \[(.*)\]$", service(name), re.MULTILINE)
    return re.findall(r'"([^"]*)"', line)


def consumed_queues() -> dict[str, str]:
    """{queue: the service whose worker consumes it}"""
    consumed = {}
    for name in re.findall(r"^  ([\w-]+):$", SERVICES, re.MULTILINE):
        if "command: [" in service(name) and "worker" in command(name):
            words = command(name)
            for queue in words[words.index("--queues") + 1].split(","):
                consumed[queue] = name
    return consumed


def test_every_routed_queue_and_the_default_one_have_a_worker_service():
    routed = {route["queue"] for route in celery_app.conf.task_routes.values()}
    assert routed == {"telegram", REPORTS_QUEUE, WEBHOOKS_QUEUE}
    assert consumed_queues() == {
        "celery": "worker",
        "telegram": "telegram-worker",
        REPORTS_QUEUE: "reports-worker",
        WEBHOOKS_QUEUE: "webhooks-worker",
    }


def test_the_reports_worker_builds_one_report_at_a_time_and_gives_memory_back():
    words = command("reports-worker")
    assert words[:4] == ["celery", "-A", "config", "worker"]
    assert words[words.index("--concurrency") + 1] == "1"
    assert words[words.index("--max-tasks-per-child") + 1] == "1"
    # it waits for the migrations, as the other workers do
    assert "condition: service_healthy  # migrations have run" in service("reports-worker")


def test_report_files_are_on_a_volume_shared_by_web_the_workers_and_the_image_owns_it():
    # the image keeps report files in /app/reports, made and owned by its user
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert re.search(r"^\s*REPORTS_ROOT=/app/reports \\$", dockerfile, re.MULTILINE)
    assert re.search(r"mkdir -p [^\n]*/app/reports", dockerfile)
    assert re.search(r"chown -R baton:baton [^\n]*/app/reports", dockerfile)
    # the volume is mounted there by the settings every app service shares
    anchor = re.search(r"^x-baton-app: &baton-app\n((?:  .*\n)+)", COMPOSE, re.MULTILINE)
    assert "    - reports:/app/reports\n" in anchor.group(1)
    assert re.search(r"^volumes:\n(?:  .*\n)*  reports:\n", COMPOSE, re.MULTILINE)
    # web downloads, reports-worker writes, telegram-worker sends documents from the
    # file, worker deletes expired ones (reports.sweep): each takes the shared settings
    # and none replaces their volumes
    for name in ("web", "worker", "reports-worker", "telegram-worker"):
        assert "    <<: *baton-app\n" in service(name)
        assert "volumes:" not in service(name)
    # no environment of its own either, which could move REPORTS_ROOT elsewhere
    assert not re.search(r"^\s*REPORTS_ROOT:", COMPOSE, re.MULTILINE)
