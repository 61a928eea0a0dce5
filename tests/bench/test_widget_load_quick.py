"""The widget load benchmark runs end to end in its quick form: its own Redis, Daphne
and SQLite database, 20 visitors x 3 messages, nothing lost or duplicated.

No timing is asserted; the benchmark's numbers are for reading, not for CI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
LAST_LINE = re.compile(
    r"widget_load: visitors=(?P<visitors>\d+) msgs_per_s=(?P<rate>[\d.]+) "
    r"p50_ms=(?P<p50>[\d.]+) p99_ms=(?P<p99>[\d.]+) lost=(?P<lost>\d+) "
    r"duplicated=(?P<duplicated>\d+) rss_per_conn_kb=(?P<rss>-?[\d.]+)"
)


def test_widget_load_quick_loses_and_duplicates_nothing():
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "bench" / "widget_load.py"), "--quick"],
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
    assert match["visitors"] == "20", output
    assert match["lost"] == "0", output
    assert match["duplicated"] == "0", output
    assert result.returncode == 0, output
