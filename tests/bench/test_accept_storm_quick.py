"""The accept storm benchmark runs end to end in its quick form (20 requests, 5
operators racing for each) when the suite runs on PostgreSQL: every request ends with
exactly one owner and no request is accepted twice.

It runs in a database of its own (bench_<random>, created next to the suite's and
dropped afterwards), never in the test database. No timing is asserted."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
LAST_LINE = re.compile(
    r"accept_storm: requests=(?P<requests>\d+) owners=(?P<owners>\d+) "
    r"double_owned=(?P<double>\d+) loser_notice_p99_ms=(?P<p99>[\d.]+|nan)"
)
DATABASE_URL = os.environ.get("DATABASE_URL", "")

pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgres://", "postgresql://", "pgsql://")),
    reason="the accept storm needs PostgreSQL: DATABASE_URL is not a postgres:// URL "
    "(make test runs the suite on PostgreSQL too, via tests/with_postgres.sh)",
)


@pytest.fixture
def bench_database_url():
    """A scratch database on the suite's PostgreSQL server, dropped afterwards."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    settings = dj_database_url.parse(DATABASE_URL)
    name = f"bench_{secrets.token_hex(6)}"
    server = {
        "host": settings["HOST"] or None,
        "port": settings["PORT"] or None,
        "user": settings["USER"] or None,
        "password": settings["PASSWORD"] or None,
        "dbname": settings["NAME"] or "postgres",
    }
    with psycopg.connect(**server, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    head, _slash, _tail = DATABASE_URL.partition("?")[0].rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        with psycopg.connect(**server, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_accept_storm_quick_gives_every_request_one_owner(bench_database_url):
    result = subprocess.run(
        [
            sys.executable,
            str(BASE_DIR / "bench" / "accept_storm.py"),
            "--quick",
            "--database-url",
            bench_database_url,
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    lines = result.stdout.strip().splitlines()
    assert lines, output
    match = LAST_LINE.fullmatch(lines[-1])
    assert match, output
    assert match["requests"] == "20", output
    assert match["owners"] == match["requests"], output
    assert match["double"] == "0", output
    assert result.returncode == 0, output
