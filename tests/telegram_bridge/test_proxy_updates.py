"""The parallel bot's updates: what reaches Baton's webhook is sent on to the webhook the
parallel bot set through Baton (a second fake bot), with its secret header, in order,
retried when it fails, by a real Celery worker; without a webhook the parallel bot
polls getUpdates, emulated from the stored updates."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone
from telegram.error import Conflict

from config.celery import TELEGRAM_SEND_QUEUE, WEBHOOKS_QUEUE
from config.celery import app as celery_app
from telegram_bridge.models import OutboundMessage, SendPurpose, TelegramBot, TelegramUpdate
from telegram_bridge.services.proxy import forwarding_due_bots, parallel_updates_forward
from telegram_bridge.services.sweep import telegram_sweep
from tests.servers import wait_until
from tests.telegram_bridge.fake_webhook_receiver import FakeWebhookReceiver
from tests.telegram_bridge.proxy_helpers import Proxy, open_topic, proxy_for
from tests.telegram_bridge.telegram_updates import callback_update, text_update

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 4403
SECRET = "parallel-secret"


@pytest.fixture
def proxy(telegram_world, live_server, settings) -> Proxy:
    settings.TELEGRAM_PROXY_ALLOW_HTTP = True
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = True
    return proxy_for(telegram_world, live_server.url)


@pytest.fixture
def receiver():
    with FakeWebhookReceiver() as started:
        yield started


@pytest.fixture
def worker(fake_api, settings):
    celery_app.conf.broker_url = settings.CELERY_BROKER_URL
    celery_app.conf.result_backend = settings.CELERY_RESULT_BACKEND
    with start_worker(
        celery_app,
        perform_ping_check=False,
        pool="threads",
        concurrency=2,
        queues=["celery", TELEGRAM_SEND_QUEUE, WEBHOOKS_QUEUE],
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as started:
        yield started


def to_batons_webhook(proxy: Proxy, live_server, update: dict) -> None:
    """Telegram posting an update to Baton's own webhook."""
    response = httpx.post(
        f"{live_server.url}/telegram/webhook/{proxy.bot.webhook_key}/",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": proxy.bot.webhook_secret},
        timeout=10,
    )
    assert response.json() == {"ok": True, "duplicate": False}


def set_parallel_webhook(proxy: Proxy, receiver: FakeWebhookReceiver, **extra) -> None:
    done = proxy.run(lambda bot: bot.set_webhook(receiver.url, secret_token=SECRET, **extra))
    assert done is True


def test_updates_reach_the_parallel_bots_webhook_with_its_secret(
    proxy, receiver, worker, live_server
):
    world = proxy.world
    # an update stored before the parallel bot set its webhook is not sent there
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="before"))
    set_parallel_webhook(proxy, receiver)
    update = text_update(world.next_update_id(), user_id=CLIENT, text="I need help")
    # when Telegram posts an update to Baton's webhook
    to_batons_webhook(proxy, live_server, update)
    # then the parallel bot's webhook gets it, unchanged, with its secret
    [delivery] = receiver.wait_for(1)
    assert delivery.body == update
    assert delivery.secret == SECRET
    assert delivery.headers["content-type"] == "application/json"
    row = TelegramUpdate.objects.get(bot=world.bot, update_id=update["update_id"])
    assert row.forwarded_at is not None
    assert (row.forward_attempts, row.forward_error) == (1, "")
    # Baton processed it too
    assert wait_until(
        lambda: TelegramUpdate.objects.filter(pk=row.pk, processed_at__isnull=False).exists()
    )
    assert len(receiver.deliveries()) == 1


def test_a_failing_webhook_is_tried_again_and_later_updates_wait_in_order(
    proxy, receiver, worker, live_server
):
    world = proxy.world
    set_parallel_webhook(proxy, receiver)
    receiver.fail_next(1)
    updates = [
        text_update(world.next_update_id(), user_id=CLIENT, text="first"),
        callback_update(world.next_update_id(), user_id=CLIENT + 1, data="faq"),
        text_update(world.next_update_id(), user_id=CLIENT + 2, text="third"),
    ]
    for update in updates:
        to_batons_webhook(proxy, live_server, update)
    accepted = receiver.wait_for(3)
    assert [delivery.body for delivery in accepted] == updates
    deliveries = receiver.deliveries()
    assert [delivery.status for delivery in deliveries] == [500, 200, 200, 200]
    assert deliveries[0].body == updates[0]
    first = TelegramUpdate.objects.get(bot=world.bot, update_id=updates[0]["update_id"])
    assert first.forward_attempts == 2
    assert first.forwarded_at is not None
    assert first.forward_error == ""


def test_a_forward_left_by_a_dead_worker_is_sent_by_the_sweep(proxy, receiver):
    world = proxy.world
    set_parallel_webhook(proxy, receiver)
    update = text_update(world.next_update_id(), user_id=CLIENT, text="hello")
    world.receive(update)
    # a worker claimed it and died: its claim ran out
    TelegramUpdate.objects.filter(bot=world.bot).update(
        forward_attempts=1, forward_next_at=timezone.now() - timedelta(seconds=1)
    )
    assert forwarding_due_bots() == [world.bot.pk]
    telegram_sweep()  # schedules the forwarder (no worker here: run it as the task would)
    assert parallel_updates_forward(bot_id=world.bot.pk) == 1
    [delivery] = receiver.wait_for(1)
    assert delivery.body == update
    assert forwarding_due_bots() == []


def test_updates_the_parallel_bot_did_not_ask_for_are_not_sent(proxy, receiver):
    world = proxy.world
    set_parallel_webhook(proxy, receiver, allowed_updates=["callback_query"])
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="a message"))
    press = callback_update(world.next_update_id(), user_id=CLIENT, data="faq")
    world.receive(press)
    assert parallel_updates_forward(bot_id=world.bot.pk) == 1
    assert [delivery.body for delivery in receiver.deliveries()] == [press]


def test_drop_pending_updates_drops_what_waits(proxy, receiver):
    world = proxy.world
    set_parallel_webhook(proxy, receiver)
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="old"))
    set_parallel_webhook(proxy, receiver, drop_pending_updates=True)
    assert parallel_updates_forward(bot_id=world.bot.pk) == 0
    assert receiver.deliveries() == []
    info = proxy.run(lambda bot: bot.get_webhook_info())
    assert info.pending_update_count == 0


def test_get_webhook_info_counts_what_waits_and_tells_the_last_error(proxy, receiver):
    world = proxy.world
    set_parallel_webhook(proxy, receiver)
    receiver.fail_next(1, status=502)
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="one"))
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="two"))
    assert parallel_updates_forward(bot_id=world.bot.pk) == 0
    info = proxy.run(lambda bot: bot.get_webhook_info())
    assert info.pending_update_count == 2
    assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"
    assert info.last_error_date <= timezone.now()


def test_get_updates_is_emulated_from_the_stored_updates(proxy):
    world = proxy.world
    stored = [
        text_update(world.next_update_id(), user_id=CLIENT, text=f"message {number}")
        for number in range(3)
    ]
    for update in stored:
        world.receive(update)
    # the parallel bot polls: it gets them, in order, as Telegram sent them
    raw = proxy.post("getUpdates", json={"offset": 0, "timeout": 0})
    assert raw.json() == {"ok": True, "result": stored}
    got = proxy.run(lambda bot: bot.get_updates(timeout=0))
    assert [update.update_id for update in got] == [update["update_id"] for update in stored]
    # an offset confirms what is before it
    last_id = stored[-1]["update_id"]
    assert proxy.run(lambda bot: bot.get_updates(offset=last_id + 1)) == ()
    assert proxy.run(lambda bot: bot.get_updates()) == ()
    assert proxy.fresh().parallel_updates_offset == last_id + 1
    # a negative offset: the last ones only, the earlier ones forgotten
    later = [
        text_update(world.next_update_id(), user_id=CLIENT, text=f"later {number}")
        for number in range(3)
    ]
    for update in later:
        world.receive(update)
    assert [update.update_id for update in proxy.run(lambda bot: bot.get_updates(offset=-1))] == [
        later[-1]["update_id"]
    ]
    assert [update.update_id for update in proxy.run(lambda bot: bot.get_updates())] == [
        later[-1]["update_id"]
    ]
    # limit, and allowed_updates
    world.receive(callback_update(world.next_update_id(), user_id=CLIENT, data="faq"))
    assert len(proxy.run(lambda bot: bot.get_updates(limit=1))) == 1
    only_presses = proxy.run(lambda bot: bot.get_updates(allowed_updates=["callback_query"]))
    assert [update.callback_query.data for update in only_presses] == ["faq"]
    assert proxy.fresh().parallel_allowed_updates == ["callback_query"]


def test_get_updates_waits_for_an_update(proxy):
    world = proxy.world
    got: list = []
    poller = threading.Thread(
        target=lambda: got.extend(proxy.run(lambda bot: bot.get_updates(timeout=20))),
        daemon=True,
    )
    poller.start()
    update = text_update(world.next_update_id(), user_id=CLIENT, text="while polling")
    world.receive(update)
    poller.join(timeout=60)
    assert [(item.update_id, item.message.text) for item in got] == [
        (update["update_id"], "while polling")
    ]


def test_get_updates_while_a_webhook_is_set_is_a_conflict(proxy, receiver):
    world = proxy.world
    set_parallel_webhook(proxy, receiver)
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="hello"))
    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        proxy.run(lambda bot: bot.get_updates())
    # deleted (dropping what waits), the bot polls from here on
    assert proxy.run(lambda bot: bot.delete_webhook(drop_pending_updates=True)) is True
    assert proxy.run(lambda bot: bot.get_updates()) == ()
    update = text_update(world.next_update_id(), user_id=CLIENT, text="new")
    world.receive(update)
    assert proxy.post("getUpdates").json() == {"ok": True, "result": [update]}
    assert TelegramBot.objects.get(pk=world.bot.pk).parallel_webhook_url == ""


def test_a_call_in_the_webhooks_answer_is_made_and_copied(proxy, receiver):
    world = proxy.world
    topic = open_topic(world.bot, CLIENT)
    set_parallel_webhook(proxy, receiver)
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="/start"))
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="again"))
    receiver.reply_next({"method": "sendMessage", "chat_id": CLIENT, "text": "Welcome!"})
    receiver.reply_next({"method": "logOut"})  # not made: it would log Baton out
    assert parallel_updates_forward(bot_id=world.bot.pk) == 2
    [call] = world.api.succeeded("sendMessage", chat_id=CLIENT)
    assert call.params["text"] == "Welcome!"
    assert call.token == world.bot.token
    assert world.api.calls("logOut") == []
    [copy] = OutboundMessage.objects.filter(purpose=SendPurpose.TOPIC)
    assert copy.payload["topic"] == topic.pk
    assert len(copy.payload["message_ids"]) == 1


def test_a_webhook_that_became_a_private_address_is_not_called(proxy, receiver, settings):
    world = proxy.world
    set_parallel_webhook(proxy, receiver)
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="hello"))
    # the rule is checked again at every try (a name may resolve elsewhere later)
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = False
    assert parallel_updates_forward(bot_id=world.bot.pk) == 0
    assert receiver.deliveries() == []
    row = TelegramUpdate.objects.get(bot=world.bot)
    assert row.forward_error.startswith("refused: ")
    assert (row.forwarded_at, row.forward_attempts) == (None, 1)
    assert row.forward_next_at is not None
