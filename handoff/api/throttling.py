"""The per-key rate limit (ApiKey.requests_per_minute): a counter per key and minute in
Django's cache (Redis), so every process serving the API counts together."""

from __future__ import annotations

import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from distributor.models import ApiKey

WINDOW_SECONDS = 60


class ApiKeyRateThrottle(BaseThrottle):
    """A fixed one-minute window per key: the first requests_per_minute calls of a minute
    pass, the rest get 429 with Retry-After (the seconds left in the minute)."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        cache_key = f"api-rate:{key.pk}:{window}"
        # add() is a no-op when the counter exists; incr() is atomic in Redis
        cache.add(cache_key, 0, timeout=WINDOW_SECONDS * 2)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add() and incr()
            cache.set(cache_key, 1, timeout=WINDOW_SECONDS * 2)
            count = 1
        if count > key.requests_per_minute:
            self._wait = (window + 1) * WINDOW_SECONDS - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
