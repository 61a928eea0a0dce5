"""The per-key rate limit: requests_per_minute calls a minute, then 429 with
Retry-After; another key has its own budget."""

from __future__ import annotations

import time

import pytest

from chats.models import Message

pytestmark = pytest.mark.django_db


def test_over_the_limit_is_429_with_retry_after(world, make_client):
    if time.time() % 60 > 50:  # the calls below must fall in one minute's window
        time.sleep(61 - time.time() % 60)
    client = make_client(chats=[world.chat], requests_per_minute=3)
    other = make_client(chats=[world.chat], requests_per_minute=3)

    statuses = [client.get("/api/v1/chats/").status_code for _ in range(3)]
    refused = client.post(
        f"/api/v1/dialogs/{world.dialog.session_id}/messages/", {"text": "hi"}, format="json"
    )

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert not Message.objects.exists()
    assert other.get("/api/v1/chats/").status_code == 200
