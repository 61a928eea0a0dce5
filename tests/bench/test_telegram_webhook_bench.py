"""The Telegram webhook benchmark runs end to end in its quick form: its own Redis,
Daphne, Celery worker, fake Bot API and SQLite database; 10 users x 3 updates, a fifth
of them posted twice, 2 injected 429s. Every update is stored, processed and answered
once, and every answer reaches the fake.

No timing is asserted; the benchmark's numbers are for reading, not for CI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
NUMBER = r"(?:[\d.]+|nan)"
LAST_LINE = re.compile(
    rf"telegram_webhook: updates_per_s=(?P<rate>{NUMBER}) p99_ms=(?P<p99>{NUMBER}) "
    r"duplicates_processed=(?P<duplicates>\d+) sends_lost=(?P<lost>\d+) "
    rf"peer_ratio=(?P<peer_ratio>{NUMBER})"
)
DETAILS = re.compile(r"# details: .*retries_429=(?P<floods>\d+) sends_duplicated=(?P<twice>\d+)")


def test_telegram_webhook_quick_processes_and_sends_everything_once():
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "bench" / "telegram_webhook.py"), "--quick"],
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
    assert match["duplicates"] == "0", output
    assert match["lost"] == "0", output
    details = DETAILS.search(result.stdout)
    assert details, output
    assert details["floods"] == "2", output  # both injected 429s were met and survived
    assert details["twice"] == "0", output
    assert "# peer (phase 0" in result.stdout, output  # the peer was measured in the same run
    assert result.returncode == 0, output
