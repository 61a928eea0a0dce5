"""Settings of the peer in bench/relay.py (bench/peer_app.py): the smallest Django
project that serves the Channels tutorial's group chat. No Baton app, no database,
the same Redis channel layer settings as Baton's (config/environment.py)."""

from __future__ import annotations

import os

SECRET_KEY = "bench-peer-not-secret"  # noqa: S105 - a loopback-only benchmark server
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
DATABASES: dict = {}
USE_TZ = True
ASGI_APPLICATION = "bench.peer_app.application"

_REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6399/0")
_LAYER = {
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
}[os.environ.get("BATON_CHANNEL_LAYER", "pubsub")]
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _LAYER,
        "CONFIG": {
            "hosts": [{"address": _REDIS_URL, "max_connections": 1000, "socket_timeout": 30}],
        },
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
