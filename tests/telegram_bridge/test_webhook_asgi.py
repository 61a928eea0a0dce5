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
from telegram_bridge import views
from telegram_bridge.models import TelegramBot, TelegramChat, TelegramUpdate, new_webhook_secret
from tests.chats.factories import ChatFactory
from tests.telegram_bridge.telegram_updates import text_update

CLIENT = 502
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def bot(db) -> TelegramBot:
    return TelegramBot.objects.create(chat=ChatFactory(), token="4545:asgi-webhook-token")


def request(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict | None = None,
    base_url: str = "http://localhost",
):
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            return await http.request(method, path, content=body, headers=headers or {})

    return async_to_sync(call)()


def post(
    bot: TelegramBot,
    payload: dict | str,
    secret: str | None = None,
    *,
    base_url: str = "http://localhost",
    headers: dict | None = None,
) -> httpx.Response:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return request(
        "POST",
        f"/telegram/webhook/{bot.webhook_key}/",
        body=body.encode(),
        headers={
            SECRET_HEADER: bot.webhook_secret if secret is None else secret,
            "Content-Type": "application/json",
            **(headers or {}),
        },
        base_url=base_url,
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


# --- a secret changed in the database (rotated after a leak) ----------------------------


def test_a_rotated_secret_is_accepted_at_once_and_costs_one_select_the_first_time(bot):
    post(bot, text_update(20, user_id=CLIENT, text="warm"))  # the process reads the secret
    new_secret = new_webhook_secret()
    TelegramBot.objects.filter(pk=bot.pk).update(webhook_secret=new_secret)

    with CaptureQueriesContext(connection) as queries:
        response = post(bot, text_update(21, user_id=CLIENT, text="after"), secret=new_secret)
    with CaptureQueriesContext(connection) as next_queries:
        post(bot, text_update(22, user_id=CLIENT, text="next"), secret=new_secret)

    assert response.json() == {"ok": True, "duplicate": False}
    # the mismatch made the process read the secret again, once; then it is known
    assert [query["sql"].split()[0] for query in queries] == ["SELECT", "INSERT"]
    assert [query["sql"].split()[0] for query in next_queries] == ["INSERT"]
    assert set(TelegramUpdate.objects.values_list("update_id", flat=True)) == {20, 21, 22}


def test_a_rotated_out_secret_is_refused_once_the_process_reads_the_bot_again(bot, monkeypatch):
    post(bot, text_update(23, user_id=CLIENT, text="warm"))
    old_secret = bot.webhook_secret
    TelegramBot.objects.filter(pk=bot.pk).update(webhook_secret=new_webhook_secret())
    # a process trusts what it read for SECRET_RECHECK seconds at most
    later = views._clock() + views.SECRET_RECHECK + 1
    monkeypatch.setattr(views, "_clock", lambda: later)

    response = post(bot, text_update(24, user_id=CLIENT, text="leaked"), secret=old_secret)
    again = post(bot, text_update(25, user_id=CLIENT, text="leaked"), secret=old_secret)

    assert response.status_code == again.status_code == 403
    assert list(TelegramUpdate.objects.values_list("update_id", flat=True)) == [23]


def test_a_changed_key_stops_answering_once_the_process_reads_the_bot_again(bot, monkeypatch):
    old_key = bot.webhook_key
    post(bot, text_update(26, user_id=CLIENT, text="warm"))
    TelegramBot.objects.filter(pk=bot.pk).update(webhook_key="a-new-key")
    later = views._clock() + views.SECRET_RECHECK + 1
    monkeypatch.setattr(views, "_clock", lambda: later)

    response = request(
        "POST",
        f"/telegram/webhook/{old_key}/",
        body=json.dumps(text_update(27, user_id=CLIENT, text="x")).encode(),
        headers={SECRET_HEADER: bot.webhook_secret},
    )

    assert response.status_code == 404
    assert list(TelegramUpdate.objects.values_list("update_id", flat=True)) == [26]


@pytest.mark.django_db(transaction=True)
def test_a_deleted_bot_is_not_found_and_stores_nothing(bot):
    post(bot, text_update(28, user_id=CLIENT, text="warm"))
    TelegramBot.objects.filter(pk=bot.pk).delete()

    response = post(bot, text_update(29, user_id=CLIENT, text="gone"))

    assert response.status_code == 404
    assert not TelegramUpdate.objects.exists()


# --- what Django's middleware would refuse ------------------------------------------------


def test_a_host_not_in_allowed_hosts_is_a_bad_request_and_asks_nothing(bot, caplog):
    post(bot, text_update(30, user_id=CLIENT, text="warm"))

    with CaptureQueriesContext(connection) as queries:
        response = post(
            bot, text_update(31, user_id=CLIENT, text="hi"), base_url="http://evil.example"
        )

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "bad request"}
    assert len(queries) == 0
    assert "Invalid HTTP_HOST header: 'evil.example'" in caplog.text
    assert list(TelegramUpdate.objects.values_list("update_id", flat=True)) == [30]


def test_a_forwarded_host_counts_only_when_django_is_told_to_use_it(bot, settings):
    forwarded = {"X-Forwarded-Host": "evil.example"}

    ignored = post(bot, text_update(32, user_id=CLIENT, text="a"), headers=forwarded)
    settings.USE_X_FORWARDED_HOST = True
    used = post(bot, text_update(33, user_id=CLIENT, text="b"), headers=forwarded)

    assert (ignored.status_code, used.status_code) == (200, 400)
    assert list(TelegramUpdate.objects.values_list("update_id", flat=True)) == [32]


def test_with_debug_and_no_allowed_hosts_localhost_is_allowed_as_django_allows_it(bot, settings):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = []

    local = post(bot, text_update(34, user_id=CLIENT, text="a"), base_url="http://app.localhost")
    other = post(bot, text_update(35, user_id=CLIENT, text="b"), base_url="http://evil.example")

    assert (local.status_code, other.status_code) == (200, 400)
    assert list(TelegramUpdate.objects.values_list("update_id", flat=True)) == [34]


def test_plain_http_is_refused_when_https_is_required(bot, settings, caplog):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    plain = post(bot, text_update(36, user_id=CLIENT, text="a"))
    direct = post(bot, text_update(37, user_id=CLIENT, text="b"), base_url="https://localhost")
    proxied = post(
        bot, text_update(38, user_id=CLIENT, text="c"), headers={"X-Forwarded-Proto": "https"}
    )

    assert plain.status_code == 403
    assert plain.json() == {"ok": False, "error": "https only"}
    assert "plain http refused" in caplog.text
    assert (direct.status_code, proxied.status_code) == (200, 200)
    assert sorted(TelegramUpdate.objects.values_list("update_id", flat=True)) == [37, 38]


def test_plain_http_is_served_when_the_path_is_exempt_from_the_redirect(bot, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^telegram/webhook/"]

    response = post(bot, text_update(39, user_id=CLIENT, text="a"))

    assert response.status_code == 200


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
        (
            '{"update_id": 6, "message": {"message_id": 1, "date": 1, "text": "a\\u0000b",'
            ' "chat": {"id": 502, "type": "private"}}}',
            "the update holds a NUL character (U+0000), which cannot be stored",
        ),
        ("[" * 100_000 + "]" * 100_000, "the body is not JSON"),
    ],
    ids=["not-json", "not-an-object", "negative-id", "lone-surrogate", "nul", "deeply-nested"],
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
