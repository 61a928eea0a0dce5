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


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    # given: DEBUG off and no SECRET_KEY (an empty value counts as none)
    env = {**production_env(tmp_path), "SECRET_KEY": ""}
    # when
    result = manage("check", env=env)
    # then: a clear error that says how to make a key, and no key was generated on this host
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_development_settings_generate_a_key_when_none_is_set(tmp_path):
    env = {**production_env(tmp_path), "DEBUG": "1"}
    env.pop("SECRET_KEY")
    result = manage("check", env=env)
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "secret_key").read_text()) >= 50
