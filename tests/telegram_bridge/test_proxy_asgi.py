"""The Bot API proxy as production serves it: Daphne in a child process (the ASGI path),
pointed at the fake Telegram. A large upload is streamed through byte-exact, a body sent
without a length (chunked) is forwarded whole, and a send to a client with a topic is
copied; a long poll of getUpdates holds up no other call."""

from __future__ import annotations

import asyncio
import os
import threading

import httpx
import pytest

from telegram_bridge.models import OutboundMessage, SendPurpose
from tests.servers import DaphneServer, wait_until
from tests.telegram_bridge.proxy_helpers import Proxy, open_topic, proxy_for
from tests.telegram_bridge.telegram_updates import text_update

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 4404


@pytest.fixture
def site(fake_api, django_db_blocker, redis_url):
    from django.db import connection

    with django_db_blocker.unblock():
        database_name = str(connection.settings_dict["NAME"])
    server = DaphneServer(
        redis_url=redis_url,
        database_name=database_name,
        extra_env={
            "TELEGRAM_API_URL": fake_api.base_url,
            "TELEGRAM_FILE_URL": fake_api.base_file_url,
            "DJANGO_ALLOW_ASYNC_UNSAFE": "",
        },
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def proxy(telegram_world, site) -> Proxy:
    return proxy_for(telegram_world, site.http_url)


def test_a_large_upload_is_streamed_through_byte_exact_and_copied(proxy, site):
    topic = open_topic(proxy.bot, CLIENT)
    document = os.urandom(12 * 1024 * 1024)  # over Django's in-memory upload size
    message = proxy.run(
        lambda bot: bot.send_document(
            CLIENT,
            document=document,
            filename="price list.pdf",
            caption="prices",
            read_timeout=60,
            write_timeout=60,
        )
    )
    call = proxy.world.api.succeeded("sendDocument", chat_id=CLIENT)[-1]
    assert call.files["document"]["content"] == document
    assert call.files["document"]["filename"] == "price list.pdf"
    assert message.document.file_size == len(document)
    [copy] = OutboundMessage.objects.filter(purpose=SendPurpose.TOPIC)
    assert copy.payload["topic"] == topic.pk
    assert copy.payload["message_ids"] == [message.message_id]
    # Daphne's access log (stdout) has the request line without the token
    assert "/bot<token>/sendDocument" in site.output()
    assert proxy.token.split(":")[1] not in site.output()


def test_a_body_without_a_length_is_forwarded_whole(proxy):
    async def chunks():
        yield b'{"chat_id": %d, ' % CLIENT
        await asyncio.sleep(0)
        yield b'"text": "sent in chunks"}'

    async def post():
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(
                proxy.url("sendMessage"),
                content=chunks(),
                headers={"Content-Type": "application/json"},
            )

    response = asyncio.run(post())
    assert response.status_code == 200
    assert response.json()["result"]["text"] == "sent in chunks"
    assert proxy.world.api.succeeded("sendMessage")[-1].params["text"] == "sent in chunks"


def test_a_long_poll_holds_up_no_other_call(proxy):
    world = proxy.world
    got: list = []
    poller = threading.Thread(
        target=lambda: got.extend(proxy.run(lambda bot: bot.get_updates(timeout=30))),
        daemon=True,
    )
    poller.start()
    wait_until(lambda: proxy.fresh().parallel_allowed_updates, seconds=30)  # it is polling
    # while it waits, the other calls of the bot go through
    message = proxy.run(lambda bot: bot.send_message(CLIENT, "meanwhile"))
    assert message.text == "meanwhile"
    assert poller.is_alive()
    update = text_update(world.next_update_id(), user_id=CLIENT, text="while polling")
    world.receive(update)
    poller.join(timeout=60)
    assert [(item.update_id, item.message.text) for item in got] == [
        (update["update_id"], "while polling")
    ]
