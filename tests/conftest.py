"""Suite-wide fixtures: an embedded Redis for the whole run (channel layer, Celery,
cache) and, for tests that need a real socket, Daphne in a child process."""

from __future__ import annotations

import atexit
import os

import pytest
from django.conf import settings

from config.environment import redis_settings
from tests.servers import DaphneServer, EmbeddedRedis

_redis = EmbeddedRedis().start()
atexit.register(_redis.stop)
for _name, _value in redis_settings(
    _redis.url, channel_layer=os.environ.get("BATON_CHANNEL_LAYER", "pubsub")
).items():
    setattr(settings, _name, _value)
# The suite runs with production settings (DEBUG off) but talks plain HTTP to the test client.
settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _redis.url


@pytest.fixture(autouse=True)
def _fresh_redis():
    """Each test starts with an empty Redis."""
    import redis

    redis.Redis.from_url(_redis.url).flushall()


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker, redis_url):
    """Daphne in a child process on the suite's test database. Tests that use it
    must be `django_db(transaction=True)` so their rows are committed and visible."""
    from django.db import connection

    with django_db_blocker.unblock():
        database_name = connection.settings_dict["NAME"]
    server = DaphneServer(redis_url=redis_url, database_name=str(database_name)).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _no_settled_requests_remembered():
    """handoff.settled remembers request ids for the process's life; ids are never
    reused in a real database, but the suite's flushed ones hand them out again."""
    from handoff.settled import settled_forget_all

    settled_forget_all()


@pytest.fixture(autouse=True)
def _default_language():
    """A test that renders a page in another language (LocaleMiddleware activates it
    on the test thread) must not leave it active for the next test."""
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)
