"""`make run` loads the demo data before its supervisor starts Redis: publishing
events then must cost one warning line, not tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys

from config.runner import BASE_DIR
from tests.servers import free_port


def test_load_demo_with_redis_away_warns_without_tracebacks(tmp_path):
    # given a fresh database and a Redis address nobody listens on
    env = {
        **os.environ,
        "DEBUG": "1",
        "BATON_VAR_DIR": str(tmp_path),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    env.pop("DATABASE_URL", None)
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, capture_output=True)

    # when
    result = subprocess.run(
        [*manage, "load_demo"], env=env, capture_output=True, text=True, timeout=120
    )

    # then
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert "channel layer unreachable" in output
