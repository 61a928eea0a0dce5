"""docker-compose.yml requires a SECRET_KEY instead of falling back to a shared default,
and runs what `make run` runs: the web processes through the runner, the Celery queues."""

import re

from config.runner import BASE_DIR


def test_compose_requires_a_secret_key():
    compose = (BASE_DIR / "docker-compose.yml").read_text()
    values = re.findall(r"^\s*SECRET_KEY:\s*(.+)$", compose, flags=re.MULTILINE)
    # `${VAR:?message}` makes `docker compose` stop with the message when VAR is unset or empty
    assert len(values) == 1
    assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", values[0].strip())


def test_compose_runs_the_web_processes_through_the_runner_and_a_worker_per_queue():
    from config.environment import celery_queues

    compose = (BASE_DIR / "docker-compose.yml").read_text()
    # the web service: the runner's Daphne processes on one port, not a single `daphne -b`
    assert "exec python -m config.runner web" in compose
    assert "daphne -b" not in compose
    assert re.search(r"^\s*WEB_CONCURRENCY: \$\{WEB_CONCURRENCY:-\}$", compose, re.MULTILINE)
    # every queue `make run`'s worker consumes has a worker service of its own
    consumed = re.findall(r'"worker".*"--queues", "([^"]+)"\]', compose)
    assert sorted(consumed) == sorted(celery_queues({}))


def test_the_image_runs_the_web_processes_through_the_runner():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "config.runner", "web"]' in dockerfile
    assert re.search(r"HOST=0\.0\.0\.0", dockerfile)
