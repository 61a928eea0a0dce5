"""How telegram_bridge is put together: no import circle among its modules, sends
routed to their own Celery queue, a rate-limited sender without an Application."""

from __future__ import annotations

import grimp
import pytest
from telegram.ext import Application, ExtBot

from config.celery import TELEGRAM_SEND_QUEUE
from config.celery import app as celery_app
from telegram_bridge.models import OutboundMessage, SendPurpose, SendStatus
from telegram_bridge.runtime import SendRateLimiter, telegram_runtime
from telegram_bridge.services.outbox import outbound_enqueue, outbox_deliver


def test_no_module_of_telegram_bridge_imports_itself_back():
    graph = grimp.build_graph("telegram_bridge")
    circles = [
        graph.find_shortest_chain(importer=imported, imported=module)
        for module in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(module))
        if imported.startswith("telegram_bridge")
        and graph.find_shortest_chain(importer=imported, imported=module)
    ]

    assert circles == []


def test_sends_go_to_the_telegram_queue_and_processing_to_the_default_one():
    route = celery_app.amqp.router.route

    assert route({}, "telegram_bridge.deliver_outbox")["queue"].name == TELEGRAM_SEND_QUEUE
    assert route({}, "telegram_bridge.process_updates")["queue"].name == "celery"


@pytest.mark.django_db(transaction=True)
def test_the_sender_is_a_rate_limited_bot_with_no_application(telegram_world, settings):
    world = telegram_world
    settings.TELEGRAM_MAX_MESSAGES_PER_SECOND = 25
    outbound_enqueue(
        bot=world.bot,
        telegram_chat_id=501,
        method="sendMessage",
        payload={"text": "hi"},
        purpose=SendPurpose.CLIENT,
    )

    assert outbox_deliver(bot_id=world.bot.pk).sent == 1

    sender = telegram_runtime.run(lambda: telegram_runtime.sender(world.bot.pk, world.bot.token))
    assert isinstance(sender, ExtBot)
    assert isinstance(sender.rate_limiter, SendRateLimiter)
    limiter = sender.rate_limiter
    # at most 25 calls starting within any one second (the outbox spaces them 1/25 s)
    assert (limiter._limit, limiter._period) == (25, pytest.approx(1.0))
    assert not any(isinstance(value, Application) for value in vars(telegram_runtime).values())
    assert OutboundMessage.objects.get().status == SendStatus.SENT
