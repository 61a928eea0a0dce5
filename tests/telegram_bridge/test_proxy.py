"""The Bot API proxy: a second, real python-telegram-bot Bot on the same token sets its
base URL to Baton (the live server); its calls reach the fake Telegram unchanged, it gets
Telegram's answers, and what it sends to a client with an open topic is copied there.
Its setWebhook / deleteWebhook / getWebhookInfo are Baton's to answer."""

from __future__ import annotations

import pytest
from django.db import connection
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from telegram_bridge.models import OutboundMessage, SendPurpose, SendStatus, TelegramBot
from telegram_bridge.services.bots import ALLOWED_UPDATES, bot_webhook_set, webhook_url
from telegram_bridge.services.proxy import callback_query_is_parallel
from telegram_bridge.services.proxy.calls import ProxyAnswer, sent_messages
from tests.telegram_bridge.fake_webhook_receiver import FakeWebhookReceiver
from tests.telegram_bridge.proxy_helpers import FORUM, Proxy, open_topic, proxy_for

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 4401
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40 + b"\r\n--not-a-boundary\r\n"


@pytest.fixture
def proxy(telegram_world, live_server, settings) -> Proxy:
    settings.TELEGRAM_PROXY_ALLOW_HTTP = True
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = True
    return proxy_for(telegram_world, live_server.url)


@pytest.fixture
def receiver():
    with FakeWebhookReceiver() as started:
        yield started


def topic_copies() -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(purpose=SendPurpose.TOPIC).order_by("id"))


def test_a_message_reaches_telegram_unchanged_and_is_copied_into_the_clients_topic(proxy):
    topic = open_topic(proxy.bot, CLIENT)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("FAQ", callback_data="faq")]])
    # when the parallel bot sends a message to the client through Baton
    message = proxy.run(
        lambda bot: bot.send_message(CLIENT, "Hello from the other bot", reply_markup=keyboard)
    )
    # then Telegram got it as the bot sent it, and the bot got Telegram's answer
    call = proxy.world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert call.token == proxy.token
    assert call.params["text"] == "Hello from the other bot"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "FAQ", "callback_data": "faq"}]]
    }
    assert message.text == "Hello from the other bot"
    assert message.chat.id == CLIENT
    assert message.reply_markup == keyboard
    # and one copy of it is queued for the client's topic
    [copy] = topic_copies()
    assert copy.method == "copyMessages"
    assert copy.telegram_chat_id == FORUM
    assert copy.payload == {
        "topic": topic.pk,
        "from_chat_id": CLIENT,
        "message_ids": [message.message_id],
    }


def test_telegrams_answer_is_returned_byte_for_byte(proxy):
    open_topic(proxy.bot, CLIENT)
    response = proxy.post("sendMessage", data={"chat_id": str(CLIENT), "text": "Привет"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    # the fake Telegram writes JSON with ASCII escapes and ", " separators: not re-encoded
    assert b'"text": "\\u041f\\u0440\\u0438\\u0432\\u0435\\u0442"' in response.content
    assert response.json()["result"]["text"] == "Привет"
    assert len(topic_copies()) == 1


def test_a_photo_upload_is_forwarded_byte_exact_and_copied(proxy):
    topic = open_topic(proxy.bot, CLIENT)
    message = proxy.run(
        lambda bot: bot.send_photo(CLIENT, photo=PNG, caption="our menu", filename="menu.png")
    )
    call = proxy.world.api.succeeded("sendPhoto", chat_id=CLIENT)[-1]
    assert call.files["photo"]["content"] == PNG
    assert call.params["caption"] == "our menu"
    assert message.caption == "our menu"
    assert message.photo[-1].file_size == len(PNG)
    [copy] = topic_copies()
    assert copy.payload["topic"] == topic.pk
    assert copy.payload["message_ids"] == [message.message_id]


def test_copy_message_is_copied_by_the_calls_chat_id(proxy):
    topic = open_topic(proxy.bot, CLIENT)
    copied = proxy.run(lambda bot: bot.copy_message(CLIENT, from_chat_id=FORUM, message_id=5))
    [copy] = topic_copies()
    assert copy.payload == {
        "topic": topic.pk,
        "from_chat_id": CLIENT,
        "message_ids": [copied.message_id],
    }


def test_nothing_is_copied_without_an_open_topic_for_groups_or_when_switched_off(proxy):
    open_topic(proxy.bot, CLIENT)
    # a private chat with no topic, and a group
    proxy.run(lambda bot: bot.send_message(CLIENT + 1, "no topic"))
    proxy.run(lambda bot: bot.send_message(FORUM, "to a group"))
    # a failed send (Telegram refuses it) copies nothing either
    proxy.world.api.fail_blocked("sendMessage", chat_id=CLIENT)
    response = proxy.post("sendMessage", json={"chat_id": CLIENT, "text": "blocked"})
    assert response.status_code == 403
    assert response.json()["description"] == "Forbidden: bot was blocked by the user"
    # the switch off
    TelegramBot.objects.filter(pk=proxy.bot.pk).update(copy_parallel_bot=False)
    proxy.run(lambda bot: bot.send_message(CLIENT, "not copied"))
    assert topic_copies() == []
    assert len(proxy.world.api.succeeded("sendMessage")) == 3


def test_a_media_group_answer_is_read_as_all_its_messages():
    album = [
        {"message_id": 11, "chat": {"id": CLIENT, "type": "private"}, "date": 1},
        {"message_id": 12, "chat": {"id": CLIENT, "type": "private"}, "date": 1},
    ]
    answer = ProxyAnswer(200, b'{"ok": true, "result": %s}' % str(album).replace("'", '"').encode())
    assert sent_messages(method="sendMediaGroup", params={}, answer=answer) == {CLIENT: [11, 12]}
    edited = ProxyAnswer(200, b'{"ok": true, "result": {"message_id": 1, "chat": {"id": 5}}}')
    assert sent_messages(method="editMessageText", params={}, answer=edited) == {}


def test_a_file_is_downloaded_through_baton(proxy):
    proxy.world.api.add_file("photo-file-1", PNG, file_name="menu.png")

    async def download(bot):
        telegram_file = await bot.get_file("photo-file-1")
        return bytes(await telegram_file.download_as_bytearray())

    assert proxy.run(download) == PNG
    assert proxy.world.api.succeeded("downloadFile")[-1].token == proxy.token


def test_set_webhook_is_kept_by_baton_and_widens_batons_own_webhook(proxy, receiver, live_server):
    world = proxy.world
    baton_url = bot_webhook_set(bot=world.bot, public_url=live_server.url)
    world.api.clear()
    # when the parallel bot sets its webhook, asking for an update type Baton does not
    done = proxy.run(
        lambda bot: bot.set_webhook(
            receiver.url,
            secret_token="parallel-secret_1",
            allowed_updates=["message", "pre_checkout_query"],
        )
    )
    # then Baton keeps it; Telegram never hears of the parallel bot's address
    assert done is True
    bot = proxy.fresh()
    assert (bot.parallel_webhook_url, bot.parallel_webhook_secret) == (
        receiver.url,
        "parallel-secret_1",
    )
    assert bot.parallel_allowed_updates == ["message", "pre_checkout_query"]
    assert not [call for call in world.api.calls() if call.params.get("url") == receiver.url]
    # Baton's own webhook stays Baton's, now asking for the parallel bot's types too
    webhook = world.api.webhook(world.bot.token)
    assert webhook["url"] == baton_url == webhook_url(bot=bot, public_url=live_server.url)
    assert webhook["secret_token"] == world.bot.webhook_secret
    assert set(webhook["allowed_updates"]) == set(ALLOWED_UPDATES) | {"pre_checkout_query"}
    # getWebhookInfo answers with what the parallel bot set
    info = proxy.run(lambda bot: bot.get_webhook_info())
    assert info.url == receiver.url
    assert info.pending_update_count == 0
    assert set(info.allowed_updates) == {"message", "pre_checkout_query"}
    # deleteWebhook clears it, and Telegram is not asked
    assert proxy.run(lambda bot: bot.delete_webhook()) is True
    assert proxy.fresh().parallel_webhook_url == ""
    assert proxy.run(lambda bot: bot.get_webhook_info()).url == ""
    assert world.api.calls("deleteWebhook") == []
    assert world.api.webhook(world.bot.token)["url"] == baton_url


def test_set_webhook_answers_like_telegram(proxy, receiver):
    first = proxy.post("setWebhook", data={"url": receiver.url})
    again = proxy.post("setWebhook", json={"url": receiver.url})
    deleted = proxy.post("deleteWebhook")
    deleted_again = proxy.post("deleteWebhook")
    assert first.json() == {"ok": True, "result": True, "description": "Webhook was set"}
    assert again.json() == {"ok": True, "result": True, "description": "Webhook is already set"}
    assert deleted.json() == {"ok": True, "result": True, "description": "Webhook was deleted"}
    assert deleted_again.json()["description"] == "Webhook is already deleted"
    # with the address in the query string and an empty url in the body: deleted
    proxy.post("setWebhook", params={"url": receiver.url})
    assert proxy.fresh().parallel_webhook_url == receiver.url
    emptied = proxy.post("setWebhook", data={"url": ""})
    assert emptied.json()["description"] == "Webhook was deleted"
    assert proxy.fresh().parallel_webhook_url == ""


@pytest.fixture
def outbox_refusing_inserts():
    """The database refuses every new outbound row (a real failure, not a stand-in)."""
    if connection.vendor != "sqlite":
        pytest.skip("the trigger is written for SQLite")
    table = OutboundMessage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER refuse_outbox BEFORE INSERT ON {table} "  # noqa: S608
            "BEGIN SELECT RAISE(ABORT, 'injected: the outbox refuses rows'); END"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_outbox")


def test_a_copy_that_fails_does_not_change_the_bots_answer(proxy, outbox_refusing_inserts, caplog):
    open_topic(proxy.bot, CLIENT)
    message = proxy.run(lambda bot: bot.send_message(CLIENT, "still delivered"))
    assert message.text == "still delivered"
    assert proxy.world.api.succeeded("sendMessage", chat_id=CLIENT)
    assert topic_copies() == []
    assert any("a copy into a topic failed" in record.getMessage() for record in caplog.records)


def test_a_button_of_the_parallel_bots_message_is_left_to_it(proxy, receiver):
    world = proxy.world
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("FAQ", callback_data="faq")]])
    theirs = proxy.run(lambda bot: bot.send_message(CLIENT, "Choose", reply_markup=keyboard))
    OutboundMessage.objects.create(
        bot=world.bot,
        telegram_chat_id=CLIENT,
        method="sendMessage",
        purpose=SendPurpose.CLIENT,
        status=SendStatus.SENT,
        telegram_message_id=theirs.message_id + 100,
    )
    ours = theirs.message_id + 100
    # no parallel bot connected yet: every button is Baton's
    assert not callback_query_is_parallel(bot=proxy.fresh(), chat_id=CLIENT, message_id=ours)
    assert not callback_query_is_parallel(
        bot=proxy.fresh(), chat_id=CLIENT, message_id=theirs.message_id
    )
    # connected (it set its webhook): a button on a message Baton did not send is its
    proxy.run(lambda bot: bot.set_webhook(receiver.url))
    bot = proxy.fresh()
    assert callback_query_is_parallel(bot=bot, chat_id=CLIENT, message_id=theirs.message_id)
    assert callback_query_is_parallel(bot=bot, chat_id=None, message_id=None)  # inline
    assert not callback_query_is_parallel(bot=bot, chat_id=CLIENT, message_id=ours)
