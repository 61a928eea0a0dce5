"""The webhook: the secret is checked, an update is stored once and acknowledged, garbage
is refused with a clear error and stores nothing; stored updates are processed once, in
update_id order, also after a worker died between storing and processing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chats.enums import AuthorKind, ScriptKind
from chats.models import Message
from telegram_bridge.models import TelegramBot, TelegramChat, TelegramUpdate, new_webhook_secret
from telegram_bridge.services import sweep
from telegram_bridge.services.updates import stale_updates, updates_process
from tests.chats.factories import ChatFactory, ScriptFactory, StepFactory
from tests.telegram_bridge.telegram_updates import callback_update, text_update

CLIENT = 501
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def bot(db) -> TelegramBot:
    return TelegramBot.objects.create(chat=ChatFactory(), token="4242:webhook-test-token")


def webhook_url(bot: TelegramBot) -> str:
    return f"/telegram/webhook/{bot.webhook_key}/"


def post_update(client, bot: TelegramBot, body: dict | list | str | bytes, secret: str | None):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {} if secret is None else {SECRET_HEADER: secret}
    return client.post(
        webhook_url(bot), data=data, content_type="application/json", headers=headers
    )


def client_texts() -> list[str]:
    return list(
        Message.objects.filter(author_kind=AuthorKind.CLIENT)
        .order_by("sequence")
        .values_list("text", flat=True)
    )


# --- authentication -----------------------------------------------------------------------


def test_right_secret_stores_the_update_with_its_chat(client, bot):
    payload = text_update(10, user_id=CLIENT, text="hello")

    response = post_update(client, bot, payload, bot.webhook_secret)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "duplicate": False}
    update = TelegramUpdate.objects.get()
    assert (update.bot, update.update_id, update.telegram_chat_id) == (bot, 10, CLIENT)
    assert update.payload == payload
    assert update.processed_at is None
    # the chat's row (its processing lease) is the worker's to create, not the webhook's
    assert not TelegramChat.objects.exists()


def test_an_update_costs_the_webhook_one_insert_and_nothing_else(client, bot):
    # given this process has read the bot's secret once
    post_update(client, bot, text_update(10, user_id=CLIENT, text="first"), bot.webhook_secret)
    # when the next update and a replay of it arrive
    with CaptureQueriesContext(connection) as stored:
        response = post_update(
            client, bot, text_update(11, user_id=CLIENT, text="second"), bot.webhook_secret
        )
    with CaptureQueriesContext(connection) as replayed:
        again = post_update(
            client, bot, text_update(11, user_id=CLIENT, text="second"), bot.webhook_secret
        )
    # then each is one INSERT ... ON CONFLICT DO NOTHING, and the replay stores nothing
    assert response.json() == {"ok": True, "duplicate": False}
    assert again.json() == {"ok": True, "duplicate": True}
    for captured in (stored, replayed):
        assert [query["sql"].split(" (")[0] for query in captured.captured_queries] == [
            f'INSERT INTO "{TelegramUpdate._meta.db_table}"'
        ]
        assert "ON CONFLICT" in captured.captured_queries[0]["sql"]
    assert TelegramUpdate.objects.filter(update_id=11).count() == 1


def test_wrong_secret_is_forbidden_and_stores_nothing(client, bot):
    response = post_update(
        client, bot, text_update(10, user_id=CLIENT, text="hi"), "not-the-secret"
    )

    assert response.status_code == 403
    assert response.json() == {"ok": False, "error": "forbidden"}
    assert not TelegramUpdate.objects.exists()
    assert not TelegramChat.objects.exists()


def test_another_bots_secret_is_forbidden(client, bot):
    other = TelegramBot.objects.create(chat=ChatFactory(), token="4343:other-token")

    response = post_update(
        client, bot, text_update(10, user_id=CLIENT, text="hi"), other.webhook_secret
    )

    assert response.status_code == 403
    assert not TelegramUpdate.objects.exists()


def test_a_secret_changed_in_the_database_is_the_one_accepted_at_once(client, bot):
    # given this process has read the secret, and then it is changed (rotated after a leak)
    post_update(client, bot, text_update(10, user_id=CLIENT, text="warm"), bot.webhook_secret)
    old_secret, new_secret = bot.webhook_secret, new_webhook_secret()
    TelegramBot.objects.filter(pk=bot.pk).update(webhook_secret=new_secret)
    # when Telegram, after set_webhook, sends the new one
    with CaptureQueriesContext(connection) as queries:
        response = post_update(client, bot, text_update(11, user_id=CLIENT, text="new"), new_secret)
    # then it is read again once and accepted, and the old one is refused from then on
    assert response.json() == {"ok": True, "duplicate": False}
    assert [query["sql"].split()[0] for query in queries] == ["SELECT", "INSERT"]
    old = post_update(client, bot, text_update(12, user_id=CLIENT, text="old"), old_secret)
    assert old.status_code == 403
    assert set(TelegramUpdate.objects.values_list("update_id", flat=True)) == {10, 11}


def test_missing_secret_header_is_forbidden(client, bot):
    response = post_update(client, bot, text_update(10, user_id=CLIENT, text="hi"), None)

    assert response.status_code == 403
    assert not TelegramUpdate.objects.exists()


def test_unknown_webhook_key_is_not_found(client, bot):
    response = client.post(
        "/telegram/webhook/no-such-key/",
        data=json.dumps(text_update(10, user_id=CLIENT, text="hi")),
        content_type="application/json",
        headers={SECRET_HEADER: bot.webhook_secret},
    )

    assert response.status_code == 404
    assert response.json()["ok"] is False
    assert not TelegramUpdate.objects.exists()


def test_get_is_not_allowed(client, bot):
    response = client.get(webhook_url(bot), headers={SECRET_HEADER: bot.webhook_secret})

    assert response.status_code == 405
    assert not TelegramUpdate.objects.exists()


# --- garbage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("this is not JSON", "the body is not JSON"),
        ("", "the body is not JSON"),
        (b"\xff\xfe{}", "the body is not JSON"),
        ([{"update_id": 1}], "an update is a JSON object"),
        ("42", "an update is a JSON object"),
        ({"message": {"chat": {"id": CLIENT}}}, "update_id must be a non-negative 64-bit integer"),
        ({"update_id": "10"}, "update_id must be a non-negative 64-bit integer"),
        ({"update_id": -1}, "update_id must be a non-negative 64-bit integer"),
        ({"update_id": True}, "update_id must be a non-negative 64-bit integer"),
        ({"update_id": 1.5}, "update_id must be a non-negative 64-bit integer"),
        ({"update_id": None}, "update_id must be a non-negative 64-bit integer"),
        (
            {"update_id": 10, "message": {"message_id": 1, "chat": {"id": "abc"}}},
            "the update's chat id is not a 64-bit integer",
        ),
        (
            {"update_id": 10, "message": {"message_id": 1, "chat": {"id": [CLIENT]}}},
            "the update's chat id is not a 64-bit integer",
        ),
        (
            {"update_id": 10, "callback_query": {"id": "1", "from": {"id": "someone"}}},
            "the update's chat id is not a 64-bit integer",
        ),
    ],
    ids=[
        "not-json",
        "empty-body",
        "not-utf8",
        "json-list",
        "json-number",
        "missing-update-id",
        "update-id-string",
        "update-id-negative",
        "update-id-bool",
        "update-id-float",
        "update-id-null",
        "chat-id-string",
        "chat-id-list",
        "callback-from-id-string",
    ],
)
def test_malformed_body_is_refused_with_a_clear_error_and_stores_nothing(client, bot, body, error):
    response = post_update(client, bot, body, bot.webhook_secret)

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": error}
    assert not TelegramUpdate.objects.exists()
    assert not TelegramChat.objects.exists()


def test_a_body_over_the_upload_limit_is_refused_and_stores_nothing(client, bot, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    payload = text_update(10, user_id=CLIENT, text="x" * 2000)

    response = post_update(client, bot, payload, bot.webhook_secret)

    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert not TelegramUpdate.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"update_id": 2**64},
        {"update_id": 10, "message": {"message_id": 1, "chat": {"id": 2**64}}},
    ],
    ids=["update-id", "chat-id"],
)
def test_an_id_beyond_64_bits_is_refused_not_a_server_error(client, bot, payload):
    client.raise_request_exception = False

    response = post_update(client, bot, payload, bot.webhook_secret)

    assert response.status_code == 400
    assert not TelegramUpdate.objects.exists()


def test_an_infinite_chat_id_is_refused_not_a_server_error(client, bot):
    client.raise_request_exception = False
    body = '{"update_id": 10, "message": {"message_id": 1, "chat": {"id": 1e400}}}'

    response = post_update(client, bot, body, bot.webhook_secret)

    assert response.status_code == 400
    assert not TelegramUpdate.objects.exists()


def test_a_deeply_nested_body_is_refused_not_a_server_error(client, bot):
    client.raise_request_exception = False
    body = "[" * 100_000 + "]" * 100_000

    response = post_update(client, bot, body, bot.webhook_secret)

    assert response.status_code == 400
    assert not TelegramUpdate.objects.exists()


# --- text that is not valid Unicode -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        # the JSON escape of a lone surrogate, in a message text
        '{"update_id": 10, "message": {"message_id": 1, "date": 1, "text": "a\\ud800b",'
        ' "chat": {"id": 501, "type": "private"}}}',
        # a low surrogate on its own, deep in a sender's name
        '{"update_id": 10, "message": {"message_id": 1, "date": 1, "text": "hi",'
        ' "from": {"id": 501, "is_bot": false, "first_name": "\\udc00"},'
        ' "chat": {"id": 501, "type": "private"}}}',
        # a high surrogate followed by something that is not its pair, in a button's data
        '{"update_id": 10, "callback_query": {"id": "1", "chat_instance": "1",'
        ' "from": {"id": 501, "is_bot": false, "first_name": "Ann"}, "data": "\\ud83dx"}}',
        # in a key
        '{"update_id": 10, "\\ud800": 1}',
    ],
    ids=["message-text", "user-name", "callback-data", "key"],
)
def test_a_lone_surrogate_anywhere_is_refused_and_stores_nothing(client, bot, body, caplog):
    response = post_update(client, bot, body, bot.webhook_secret)

    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "the update holds text that is not valid Unicode (a lone surrogate)",
    }
    assert "malformed Telegram update refused" in caplog.text
    assert not TelegramUpdate.objects.exists()
    assert not TelegramChat.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        '{"update_id": 10, "message": {"message_id": 1, "date": 1, "text": "a\\u0000b",'
        ' "chat": {"id": 501, "type": "private"}}}',
        '{"update_id": 10, "message": {"message_id": 1, "date": 1, "text": "hi",'
        ' "from": {"id": 501, "is_bot": false, "first_name": "\\u0000"},'
        ' "chat": {"id": 501, "type": "private"}}}',
        '{"update_id": 10, "a\\u0000": 1}',
    ],
    ids=["message-text", "user-name", "key"],
)
def test_a_nul_anywhere_is_refused_and_stores_nothing(client, bot, body, caplog):
    # valid JSON, but PostgreSQL's jsonb cannot hold U+0000: refused, never a 500
    response = post_update(client, bot, body, bot.webhook_secret)

    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "the update holds a NUL character (U+0000), which cannot be stored",
    }
    assert "malformed Telegram update refused" in caplog.text
    assert not TelegramUpdate.objects.exists()
    assert not TelegramChat.objects.exists()


def test_a_backslash_u0000_written_as_text_is_stored(client, bot):
    # the six characters \u0000 (an escaped backslash) are text like any other
    body = (
        '{"update_id": 10, "message": {"message_id": 1, "date": 1, "text": "a\\\\u0000b",'
        ' "chat": {"id": 501, "type": "private"}}}'
    )

    response = post_update(client, bot, body, bot.webhook_secret)

    assert response.status_code == 200
    assert TelegramUpdate.objects.get().payload["message"]["text"] == "a\\u0000b"


def test_a_surrogate_pair_is_an_emoji_and_is_stored(client, bot):
    # 😀 as JSON writes it with ensure_ascii: two escapes that make one character
    body = (
        '{"update_id": 10, "message": {"message_id": 1, "date": 1, "text": "hi \\ud83d\\ude00",'
        ' "chat": {"id": 501, "type": "private"}}}'
    )

    response = post_update(client, bot, body, bot.webhook_secret)

    assert response.status_code == 200
    assert TelegramUpdate.objects.get().payload["message"]["text"] == "hi \N{GRINNING FACE}"


# --- stored once, processed once, in order ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_replayed_update_is_stored_once_and_answered_once(client, telegram_world):
    world = telegram_world
    # given a chat that greets new dialogs
    StepFactory(
        script=ScriptFactory(chat=world.bot.chat, kind=ScriptKind.START),
        text="Welcome to the shop!",
    )
    payload = text_update(world.next_update_id(), user_id=CLIENT, text="hello")
    # when Telegram delivers the same update three times
    responses = [post_update(client, world.bot, payload, world.bot.webhook_secret) for _ in "abc"]
    # then every delivery is acknowledged, the later ones as duplicates, and one row is kept
    assert [response.status_code for response in responses] == [200, 200, 200]
    assert [response.json()["duplicate"] for response in responses] == [False, True, True]
    assert TelegramUpdate.objects.count() == 1
    # and processing stores the client's message once and greets once
    world.settle()
    assert client_texts() == ["hello"]
    assert world.texts_to(CLIENT).count("Welcome to the shop!") == 1
    assert TelegramUpdate.objects.get().processed_at is not None


@pytest.mark.django_db(transaction=True)
def test_processing_twice_does_not_answer_twice(telegram_world):
    world = telegram_world
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="/human"))
    world.settle()
    sent = len(world.api.succeeded("sendMessage", chat_id=CLIENT))

    again = updates_process(bot_id=world.bot.pk, telegram_chat_id=CLIENT)
    world.settle()

    assert again == 0
    assert len(world.api.succeeded("sendMessage", chat_id=CLIENT)) == sent


@pytest.mark.django_db(transaction=True)
def test_updates_stored_out_of_order_are_processed_in_update_id_order(telegram_world):
    world = telegram_world
    # given Telegram's deliveries arrived 12, 10, 11
    for update_id, text in ((12, "third"), (10, "first"), (11, "second")):
        assert world.receive(text_update(update_id, user_id=CLIENT, text=text))
    # when the chat is processed
    processed = updates_process(bot_id=world.bot.pk, telegram_chat_id=CLIENT)
    # then the client's messages are in update_id order
    assert processed == 3
    assert client_texts() == ["first", "second", "third"]
    assert not TelegramUpdate.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_an_update_left_by_a_crash_is_rescheduled_by_the_sweep_and_then_processed(
    telegram_world, monkeypatch
):
    world = telegram_world
    # given an update stored a minute ago whose processing never ran (the worker died)
    assert world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="anyone?"))
    TelegramUpdate.objects.update(received_at=timezone.now() - timedelta(minutes=1))
    # and a fresh one of another chat, which is not late yet
    assert world.receive(text_update(world.next_update_id(), user_id=CLIENT + 1, text="hi"))
    scheduled: list[tuple[int, int]] = []
    monkeypatch.setattr(
        sweep,
        "processing_schedule",
        lambda *, bot_id, telegram_chat_id: scheduled.append((bot_id, telegram_chat_id)),
    )
    # when the periodic sweep runs
    assert stale_updates() == [(world.bot.pk, CLIENT)]
    sweep.telegram_sweep()
    # then the stale chat is scheduled again, and processing it handles the update
    assert scheduled == [(world.bot.pk, CLIENT)]
    assert updates_process(bot_id=world.bot.pk, telegram_chat_id=CLIENT) == 1
    assert client_texts() == ["anyone?"]
    assert stale_updates() == []


@pytest.mark.django_db(transaction=True)
def test_an_update_younger_than_30_seconds_is_not_stale(telegram_world):
    world = telegram_world
    assert world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="hi"))
    TelegramUpdate.objects.update(received_at=timezone.now() - timedelta(seconds=20))

    assert stale_updates() == []


@pytest.mark.django_db(transaction=True)
def test_an_unknown_button_gets_a_polite_refusal_not_an_error(telegram_world):
    world = telegram_world
    update_id = world.next_update_id()
    world.receive(callback_update(update_id, user_id=CLIENT, data="b:999999"))

    world.settle()

    update = TelegramUpdate.objects.get(update_id=update_id)
    assert update.processed_at is not None
    assert update.error == ""
    assert world.api.succeeded("answerCallbackQuery")
    assert "This button is no longer available." in world.texts_to(CLIENT)
