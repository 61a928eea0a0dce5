"""The viewer bench runs end to end in its quick form (20,000 messages, 1,000
dialogs) when the suite runs on PostgreSQL, in a database of its own (bench_<random>,
created next to the suite's and dropped afterwards). No timing is asserted: the
counts the pages show must be the ones the data was made with."""

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
LAST_LINE = re.compile(
    r"^viewer: messages=(?P<messages>\d+) dialogs=(?P<dialogs>\d+) "
    r"p95_ms=(?P<p95>[\d.]+) worst=(?P<worst>\w+)$"
)

pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgres://", "postgresql://", "pgsql://")),
    reason="the viewer bench needs PostgreSQL: DATABASE_URL is not a postgres:// URL",
)


@pytest.fixture
def bench_database_url():
    import psycopg

    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    yield DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_the_quick_viewer_bench_fills_times_and_reports(bench_database_url):
    result = subprocess.run(
        [sys.executable, "bench/viewer.py", "--database-url", bench_database_url, "--quick"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    last = LAST_LINE.match(lines[-1])
    assert last, lines[-1]
    assert (last["messages"], last["dialogs"]) == ("20000", "1000")
    totals = {line.split()[0]: int(line.split()[1]) for line in lines if line.startswith("  ")}
    assert totals["none"] == 1000
    assert totals["chat"] == 200  # five chats, dialogs dealt in turn
    assert 0 < totals["text"] < totals["text_common"] <= 1000
    assert 0 < totals["status_no_operator_response"] < 1000
