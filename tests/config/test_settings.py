import os
import subprocess
import sys

from config.runner import BASE_DIR


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_env(tmp_path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DEBUG"}
    return {
        **env,
        "DEBUG": "0",
        "SECRET_KEY": "k3y-" + "x9Q2vLr7TmB4nZc8Hs1WfJd6Ype0Gu5KaiOo3Ee" * 2,
        "ALLOWED_HOSTS": "baton.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://baton.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "BATON_VAR_DIR": str(tmp_path),
    }


def test_check_deploy_is_silent_with_production_settings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_malformed_boolean_setting_is_a_clear_error(tmp_path):
    env = {**production_env(tmp_path), "DEBUG": "perhaps"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_development_secret_key_is_generated_once_and_kept(tmp_path):
    from config.environment import development_secret_key

    path = tmp_path / "secret_key"
    first = development_secret_key(path)
    assert len(first) >= 50
    assert development_secret_key(path) == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"
