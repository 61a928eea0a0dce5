"""Review of issue 13's Telegram delivery of uploads: a caption holds at most 1024
characters (the outbox cuts it there), while a message with files may carry 4000. A long
text sent with a file reached Telegram cut to its first 1024 characters; it now goes as
a message of its own before the file."""

from __future__ import annotations

import pytest

from chats.services.uploads import client_message_with_uploads, upload_store
from handoff.models import Request
from handoff.services import request_open
from tests.chats import upload_files as files
from tests.chats.factories import DialogFactory
from tests.telegram_bridge.test_clients import (
    CLIENT,
    OPERATOR_USER,
    accepted_from_console,
    connect_operator,
    press,
)
from tests.telegram_bridge.test_uploads import media_root, operator_sends  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

LONG = " ".join(f"word{index}" for index in range(400))  # about 3000 characters


def test_an_operators_long_text_with_a_file_reaches_the_client_whole(telegram_world):
    world = telegram_world
    request, operator = accepted_from_console(world, name="Olga")
    assert len(LONG) > 1024
    # when
    operator_sends(world, request, operator, "offer.pdf", files.pdf(), text=LONG)
    # then: the whole text, then the document
    texts = [sent.params["text"] for sent in world.api.succeeded("sendMessage", chat_id=CLIENT)]
    assert f"Olga: {LONG}" in texts
    [document] = world.api.succeeded("sendDocument", chat_id=CLIENT)
    assert document.files["document"]["content"] == files.pdf()


def test_a_web_visitors_long_text_with_a_file_reaches_the_manager_whole(telegram_world):
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
    client_message_with_uploads(dialog=dialog, text=LONG, client_msg_id="w1", tokens=[upload.token])
    world.settle()
    # then: the manager reads all of it, and gets the file
    texts = [
        sent.params["text"] for sent in world.api.succeeded("sendMessage", chat_id=OPERATOR_USER)
    ]
    assert any(text.endswith(f": {LONG}") for text in texts)
    [relayed] = world.api.succeeded("sendDocument", chat_id=OPERATOR_USER)
    assert relayed.files["document"]["content"] == files.pdf()
