"""What the repository tracks: build output such as `baton.egg-info/` (rewritten by every
`pip install -e`) is ignored, never committed."""

import subprocess

from config.runner import BASE_DIR


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args], cwd=BASE_DIR, capture_output=True, text=True, timeout=30, check=False
    )


def test_egg_info_is_not_tracked():
    tracked = git("ls-files").stdout.splitlines()
    assert [path for path in tracked if ".egg-info/" in path] == []


def test_egg_info_is_ignored():
    result = git("check-ignore", "--no-index", "baton.egg-info/PKG-INFO")
    assert result.returncode == 0, result.stderr
