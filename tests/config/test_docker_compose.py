"""docker-compose.yml requires a SECRET_KEY instead of falling back to a shared default."""

import re

from config.runner import BASE_DIR


def test_compose_requires_a_secret_key():
    compose = (BASE_DIR / "docker-compose.yml").read_text()
    values = re.findall(r"^\s*SECRET_KEY:\s*(.+)$", compose, flags=re.MULTILINE)
    # `${VAR:?message}` makes `docker compose` stop with the message when VAR is unset or empty
    assert len(values) == 1
    assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", values[0].strip())
