"""The webhook as Daphne serves it (config.asgi): answered ahead of Django's middleware,
one INSERT per update, and the same refusals as the Django view."""

from __future__ import annotations

import json

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.asgi import application
from telegram_bridge.models import TelegramBot, TelegramChat, TelegramUpdate
from tests.chats.factories import ChatFactory
from tests.telegram_bridge.telegram_updates import text_update

CLIENT = 502
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def bot(db) -> TelegramBot:
    return TelegramBot.objects.create(chat=ChatFactory(), token="4545:asgi-webhook-token")


def request(method: str, path: str, *, body: bytes = b"", headers: dict | None = None):
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            return await http.request(method, path, content=body, headers=headers or {})

    return async_to_sync(call)()


def post(bot: TelegramBot, payload: dict | str, secret: str | None = None) -> httpx.Response:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return request(
        "POST",
        f"/telegram/webhook/{bot.webhook_key}/",
        body=body.encode(),
        headers={
            SECRET_HEADER: bot.webhook_secret if secret is None else secret,
            "Content-Type": "application/json",
        },
    )


def test_an_update_is_stored_with_one_insert_ahead_of_the_middleware(bot):
    post(bot, text_update(1, user_id=CLIENT, text="warm"))  # the process reads the secret

    with CaptureQueriesContext(connection) as queries:
        response = post(bot, text_update(2, user_id=CLIENT, text="hello"))

    assert response.status_code == 200
    assert response.json() == {"ok": True, "duplicate": False}
    assert len(queries) == 1
    assert queries[0]["sql"].startswith(f'INSERT INTO "{TelegramUpdate._meta.db_table}"')
    # no middleware ran: none of the headers it adds to every page
    assert "X-Frame-Options" not in response.headers
    assert "Content-Security-Policy" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert TelegramUpdate.objects.get(update_id=2).payload["message"]["text"] == "hello"


def test_a_replay_answers_duplicate_and_changes_nothing(bot):
    first = post(bot, text_update(3, user_id=CLIENT, text="once"))
    again = post(bot, text_update(3, user_id=CLIENT, text="twice?"))

    assert first.json() == {"ok": True, "duplicate": False}
    assert again.json() == {"ok": True, "duplicate": True}
    assert list(TelegramUpdate.objects.values_list("payload__message__text", flat=True)) == ["once"]


def test_a_wrong_secret_is_forbidden_and_stores_nothing(bot):
    response = post(bot, text_update(4, user_id=CLIENT, text="hi"), secret="nope")

    assert response.status_code == 403
    assert response.json() == {"ok": False, "error": "forbidden"}
    assert not TelegramUpdate.objects.exists()


def test_an_unknown_key_is_not_found(bot):
    response = request(
        "POST",
        "/telegram/webhook/no-such-key/",
        body=json.dumps(text_update(5, user_id=CLIENT, text="hi")).encode(),
        headers={SECRET_HEADER: bot.webhook_secret},
    )

    assert response.status_code == 404
    assert not TelegramUpdate.objects.exists()


def test_get_is_not_allowed(bot):
    response = request(
        "GET", f"/telegram/webhook/{bot.webhook_key}/", headers={SECRET_HEADER: bot.webhook_secret}
    )

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert not TelegramUpdate.objects.exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not JSON", "the body is not JSON"),
        ("[1]", "an update is a JSON object"),
        ('{"update_id": -1}', "update_id must be a non-negative 64-bit integer"),
        (
            '{"update_id": 6, "message": {"message_id": 1, "date": 1, "text": "a\\ud800",'
            ' "chat": {"id": 502, "type": "private"}}}',
            "the update holds text that is not valid Unicode (a lone surrogate)",
        ),
        ("[" * 100_000 + "]" * 100_000, "the body is not JSON"),
    ],
    ids=["not-json", "not-an-object", "negative-id", "lone-surrogate", "deeply-nested"],
)
def test_garbage_is_refused_with_a_clear_error_and_stores_nothing(bot, body, error):
    response = post(bot, body)

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": error}
    assert not TelegramUpdate.objects.exists()
    assert not TelegramChat.objects.exists()


def test_a_body_over_the_upload_limit_is_refused_and_stores_nothing(bot, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = post(bot, text_update(7, user_id=CLIENT, text="x" * 2000))

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "the body is not JSON"}
    assert not TelegramUpdate.objects.exists()


def test_other_pages_still_go_through_django_and_its_middleware(db):
    response = request("GET", "/healthz")

    assert response.status_code in (200, 503)
    assert "X-Frame-Options" in response.headers
