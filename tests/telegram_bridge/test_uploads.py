"""Files uploaded in the console or the widget reach Telegram: an operator's photo or
document goes to a Telegram client (sendPhoto / sendDocument, the stored file uploaded
from disk), and a web visitor's file to the manager who holds the conversation on
Telegram. Against the fake Bot API, through the real outbox."""

from __future__ import annotations

import pytest

from chats.services.uploads import client_message_with_uploads, upload_store
from handoff.models import Request
from handoff.services import request_open
from handoff.services.attachments import operator_message_with_uploads, operator_upload_store
from tests.chats import upload_files as files
from tests.chats.factories import DialogFactory
from tests.telegram_bridge.test_clients import (
    CLIENT,
    OPERATOR_USER,
    accepted_from_console,
    connect_operator,
    press,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def operator_sends(world, request, operator, name, content, text=""):
    upload = operator_upload_store(
        request=request, operator=operator, file=files.uploaded(name, content), file_name=name
    )
    operator_message_with_uploads(
        request=request,
        operator=operator,
        text=text,
        client_msg_id=f"console-{name}",
        tokens=[upload.token],
    )
    world.settle()


def test_an_operators_photo_reaches_the_telegram_client_as_a_photo(telegram_world):
    world = telegram_world
    request, operator = accepted_from_console(world, name="Olga")
    # when
    operator_sends(world, request, operator, "prices.jpg", files.jpeg(), text="Our prices")
    # then
    [sent] = world.api.succeeded("sendPhoto", chat_id=CLIENT)
    assert sent.files["photo"]["content"] == files.jpeg()
    assert sent.params["caption"] == "Olga: Our prices"


def test_an_operators_document_reaches_the_telegram_client_with_its_name(telegram_world):
    world = telegram_world
    request, operator = accepted_from_console(world, name="Olga")
    # when
    operator_sends(world, request, operator, "offer.pdf", files.pdf())
    # then
    [sent] = world.api.succeeded("sendDocument", chat_id=CLIENT)
    assert sent.files["document"]["content"] == files.pdf()
    assert sent.files["document"]["filename"] == "offer.pdf"
    assert sent.params["caption"] == "Olga"


def test_a_gif_goes_as_a_document(telegram_world):
    world = telegram_world
    request, operator = accepted_from_console(world, name="Olga")
    operator_sends(world, request, operator, "smile.gif", files.image_bytes("GIF"))
    assert world.api.succeeded("sendPhoto", chat_id=CLIENT) == []
    [sent] = world.api.succeeded("sendDocument", chat_id=CLIENT)
    assert sent.files["document"]["filename"] == "smile.gif"


def test_a_web_visitors_file_reaches_the_manager_on_telegram(telegram_world):
    world = telegram_world
    connect_operator(world)
    dialog = DialogFactory(client__chat=world.bot.chat, client__name="Ann")
    request = request_open(dialog=dialog, reason="headset")
    world.settle()
    press(world, f"a:{request.pk}", user_id=OPERATOR_USER)
    assert Request.objects.get(pk=request.pk).status == "accepted"
    upload = upload_store(
        dialog=dialog,
        file=files.uploaded("receipt.pdf", files.pdf()),
        file_name="receipt.pdf",
        client=dialog.client,
    )
    # when
    client_message_with_uploads(
        dialog=dialog, text="my receipt", client_msg_id="w1", tokens=[upload.token]
    )
    world.settle()
    # then
    [relayed] = world.api.succeeded("sendDocument", chat_id=OPERATOR_USER)
    assert relayed.files["document"]["content"] == files.pdf()
    assert relayed.params["caption"].endswith(": my receipt")


def test_a_web_visitors_photo_without_text_is_captioned_with_their_name(telegram_world):
    world = telegram_world
    connect_operator(world)
    dialog = DialogFactory(client__chat=world.bot.chat, client__name="Ann")
    request = request_open(dialog=dialog, reason="headset")
    world.settle()
    press(world, f"a:{request.pk}", user_id=OPERATOR_USER)
    upload = upload_store(
        dialog=dialog,
        file=files.uploaded("receipt.png", files.png()),
        file_name="receipt.png",
        client=dialog.client,
    )
    # when
    client_message_with_uploads(dialog=dialog, text="", client_msg_id="w1", tokens=[upload.token])
    world.settle()
    # then
    [relayed] = world.api.succeeded("sendPhoto", chat_id=OPERATOR_USER)
    assert relayed.files["photo"]["content"] == files.png()
    assert relayed.params["caption"] == "Ann"
