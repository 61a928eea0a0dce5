"""The export bench runs end to end in its quick form (20,000 messages in 1,000
dialogs): on SQLite always, on PostgreSQL too when the suite runs on it (in a database
of its own, bench_<random>, dropped afterwards). No timing is asserted: the rows the
job wrote must be every dialog and every message the data was made with."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
DATABASE_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://", "pgsql://"))
LAST_LINE = re.compile(
    r"export: rows=(?P<rows>\d+) rows_per_s=(?P<rate>\d+) "
    r"ratio=(?P<ratio>\d+\.\d\d) rss_growth_mb=(?P<growth>-?\d+\.\d)"
)
QUICK_ROWS = 1_000 + 20_000  # the sessions sheet's dialogs and the messages sheet's


def run_bench(*args: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "bench" / "export.py"), "--quick", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def assert_reported(result: subprocess.CompletedProcess) -> None:
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, output
    lines = result.stdout.strip().splitlines()
    assert lines, output
    last = LAST_LINE.fullmatch(lines[-1])
    assert last, output
    assert int(last["rows"]) == QUICK_ROWS, output
    assert int(last["rate"]) > 0, output
    assert float(last["ratio"]) > 0, output
    # the bare write was handed the same rows the job wrote
    assert any(f"bare openpyxl write-only (lxml): {QUICK_ROWS} rows" in line for line in lines)


def test_the_quick_export_bench_on_sqlite_writes_every_dialog_and_message():
    assert_reported(run_bench())


@pytest.fixture
def bench_database_url():
    import psycopg

    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    yield DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.mark.skipif(not ON_POSTGRES, reason="DATABASE_URL is not a postgres:// URL")
def test_the_quick_export_bench_on_postgres_writes_every_dialog_and_message(
    bench_database_url,
):
    assert_reported(run_bench("--database", "postgres", "--database-url", bench_database_url))


def test_postgres_without_a_database_url_is_refused():
    result = run_bench("--database", "postgres")

    assert result.returncode == 2
    assert "--database postgres needs --database-url" in result.stderr
