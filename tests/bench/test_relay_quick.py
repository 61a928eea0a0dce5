"""The relay benchmark runs end to end in its quick form: its own Redis, relay, Daphne
processes and SQLite database, 10 dialogs for 5 seconds on each of the three systems,
nothing lost, duplicated or reordered.

No timing is asserted; the benchmark's numbers are for reading, not for CI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
NUMBER = r"(?:[\d.]+|nan)"
LAST_LINE = re.compile(
    rf"relay: dialogs=(?P<dialogs>\d+) msgs_per_s=(?P<rate>{NUMBER}) "
    rf"p50_ms=(?P<p50>{NUMBER}) p99_ms=(?P<p99>{NUMBER}) lost=(?P<lost>\d+) "
    rf"duplicated=(?P<duplicated>\d+) reordered=(?P<reordered>\d+) "
    rf"ceiling_ratio=(?P<ceiling>{NUMBER}) peer_ratio=(?P<peer>{NUMBER})"
)


def test_relay_quick_loses_duplicates_and_reorders_nothing():
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "bench" / "relay.py"), "--quick"],
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
    assert match["dialogs"] == "10", output
    assert match["lost"] == "0", output
    assert match["duplicated"] == "0", output
    assert match["reordered"] == "0", output
    # all three systems ran and delivered something
    assert float(match["rate"]) > 0, output
    assert match["ceiling"] != "nan" and match["peer"] != "nan", output
    assert result.returncode == 0, output
