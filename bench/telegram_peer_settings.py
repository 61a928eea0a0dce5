"""Baton's settings for bench/telegram_webhook.py's servers: the same in every respect,
plus the peer's URL (bench/telegram_peer_urls.py), which production never serves."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.telegram_peer_urls"
