"""Several forwarders at once (a task per new update, the sweep, a retry) send each
update to the parallel bot's webhook once, in update_id order. Runs on SQLite and, with
tests/with_postgres.sh, on PostgreSQL."""

from __future__ import annotations

import pytest
from django.utils import timezone

from telegram_bridge.models import TelegramBot, TelegramUpdate
from telegram_bridge.services.proxy import parallel_updates_forward
from tests.telegram_bridge.fake_webhook_receiver import FakeWebhookReceiver
from tests.telegram_bridge.telegram_updates import text_update
from tests.threads import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_forwarders_send_each_update_once_in_order(telegram_world, settings):
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = True
    world = telegram_world
    with FakeWebhookReceiver() as receiver:
        TelegramBot.objects.filter(pk=world.bot.pk).update(
            parallel_webhook_url=receiver.url,
            parallel_webhook_secret="s",
            parallel_webhook_set_at=timezone.now(),
            parallel_allowed_updates=["message"],
        )
        updates = [
            text_update(world.next_update_id(), user_id=5000 + number, text=f"m{number}")
            for number in range(30)
        ]
        for update in updates:
            world.receive(update)
        errors = run_in_threads(4, lambda _index: parallel_updates_forward(bot_id=world.bot.pk))
        assert errors == []
        # a forwarder that found the head claimed stopped; one more run finishes any rest
        parallel_updates_forward(bot_id=world.bot.pk)
        received = [delivery.body["update_id"] for delivery in receiver.deliveries()]
    assert received == [update["update_id"] for update in updates]
    assert not TelegramUpdate.objects.filter(bot=world.bot, forwarded_at__isnull=True).exists()
    assert set(
        TelegramUpdate.objects.filter(bot=world.bot).values_list("forward_attempts", flat=True)
    ) == {1}
