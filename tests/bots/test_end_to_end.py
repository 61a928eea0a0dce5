"""The whole path with real processes: a chat's web channel routed to an API bot, the
bot being docs/examples/api_bot.py on a real HTTP server, a real Celery worker sending
the webhooks, Daphne serving the API the example bot calls back."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest
from celery.contrib.testing.worker import start_worker

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Dialog, Message
from chats.services import dialog_receive_client_message, dialog_start_or_resume
from config.celery import WEBHOOKS_QUEUE
from config.celery import app as celery_app
from distributor.enums import DeliveryStatus
from distributor.models import BotAssignment, WebhookDelivery
from docs.examples.api_bot import BatonApi, handler_for
from handoff.enums import RequestReason, RequestStatus
from handoff.models import Request
from tests.bots.conftest import register_bot
from tests.chats.factories import ChatFactory
from tests.servers import wait_until


@pytest.fixture
def webhooks_worker(settings):
    celery_app.conf.broker_url = settings.CELERY_BROKER_URL
    celery_app.conf.result_backend = settings.CELERY_RESULT_BACKEND
    with start_worker(
        celery_app,
        perform_ping_check=False,
        pool="solo",
        # "celery" too: start_worker's queue list becomes the app's (global) selection,
        # and a later test's worker started without one would consume webhooks only
        queues=["celery", WEBHOOKS_QUEUE],
        loglevel="WARNING",
    ) as worker:
        yield worker


@pytest.fixture
def example_bot_server():
    """The example bot's webhook server; its handler is set once the bot is registered."""
    holder = {}

    class Handler:
        def __new__(cls, *args, **kwargs):
            return holder["handler"](*args, **kwargs)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield holder, f"http://{host}:{port}/hook"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.django_db(transaction=True)
def test_a_client_talks_to_the_example_bot_and_is_handed_to_a_person(
    daphne_server, webhooks_worker, example_bot_server
):
    # given the example bot, registered, its chat's web channel routed to it
    holder, url = example_bot_server
    chat = ChatFactory()
    routed = register_bot(chat=chat, url=url, name="Example")
    holder["handler"] = handler_for(BatonApi(daphne_server.http_url, routed.token), routed.secret)
    dialog, _created = dialog_start_or_resume(
        chat=chat, messenger=Messenger.WEB, external_id="visitor-e2e"
    )

    # when the client writes
    dialog_receive_client_message(dialog=dialog, text="hello", client_msg_id="c1")

    # then the worker pushed it to the bot, which answered through the API
    reply = wait_until(
        lambda: Message.objects.filter(dialog=dialog, author_kind=AuthorKind.BOT).first(),
        seconds=30,
    )
    assert reply.text.startswith("You wrote: hello.")
    assert reply.author_name == "Example"
    [button] = reply.buttons
    assert (button["label"], button["url"]) == ("Our website", "https://example.com/")
    assert reply.sequence == 2
    wait_until(
        lambda: (
            set(WebhookDelivery.objects.values_list("status", flat=True))
            == {DeliveryStatus.DELIVERED}
        ),
        seconds=30,
    )
    assert list(WebhookDelivery.objects.order_by("pk").values_list("event", flat=True)) == [
        "dialog.assigned",
        "message.created",
    ]

    # when the client asks for a human
    dialog_receive_client_message(dialog=dialog, text="a human please", client_msg_id="c2")

    # then the bot handed off: a request is open and the dialog waits for a person
    request = wait_until(lambda: Request.objects.filter(dialog=dialog).first(), seconds=30)
    assert (request.reason, request.status) == (RequestReason.BOT_HANDOFF, RequestStatus.PENDING)
    assert Dialog.objects.get(pk=dialog.pk).status == DialogStatus.WAITING
    assert BotAssignment.objects.get(dialog=dialog).released_at is not None
    # the client got exactly one bot reply (the retried-or-not webhook answered once)
    assert Message.objects.filter(dialog=dialog, author_kind=AuthorKind.BOT).count() == 1
