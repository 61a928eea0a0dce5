"""Photos and documents from Telegram reach a web visitor (and the console) through a
signed address of ours; the bot token never reaches a browser."""

from __future__ import annotations

import pytest

from chats.enums import AuthorKind
from chats.models import Message
from handoff.services import request_accept, request_open
from telegram_bridge.services.operators import connect_link_create, operator_accept
from tests.chats.factories import DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.telegram_bridge.telegram_updates import document_update, photo_update, text_update

pytestmark = pytest.mark.django_db(transaction=True)

OPERATOR_USER = 611
PHOTO = b"\xff\xd8\xff\xe0 a small jpeg"


def web_dialog_with_telegram_operator(world):
    operator = OperatorFactory(display_name="Olga", chats=[world.bot.chat])
    link = connect_link_create(bot=world.bot, operator=operator)
    world.receive(
        text_update(world.next_update_id(), user_id=OPERATOR_USER, text=f"/start {link.token}")
    )
    world.settle()
    dialog = DialogFactory(client__chat=world.bot.chat)
    request = request_open(dialog=dialog, reason="headset")
    operator_accept(account=world.bot.operator_accounts.get(), request_id=request.pk)
    return dialog


def test_an_operators_photo_reaches_the_web_visitor_through_our_address(telegram_world, client):
    world = telegram_world
    dialog = web_dialog_with_telegram_operator(world)
    world.api.add_file("photo-1", PHOTO)
    # when the operator sends a photo with a caption
    world.receive(
        photo_update(
            world.next_update_id(), user_id=OPERATOR_USER, file_id="photo-1", caption="the label"
        )
    )
    world.settle()
    # then the visitor's dialog has it, with an address that serves the bytes
    message = Message.objects.get(dialog=dialog, author_kind=AuthorKind.OPERATOR)
    assert message.text == "the label"
    attachment = message.attachments[0]
    assert attachment["kind"] == "photo"
    response = client.get(attachment["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response.content == PHOTO
    assert world.bot.token not in attachment["url"]


def test_a_document_is_served_as_a_download_never_as_a_page(telegram_world, client):
    world = telegram_world
    dialog = web_dialog_with_telegram_operator(world)
    world.api.add_file("doc-1", b"<html><script>alert(1)</script></html>")
    world.receive(
        document_update(
            world.next_update_id(),
            user_id=OPERATOR_USER,
            file_id="doc-1",
            file_name="page.html",
            mime_type="text/html",
        )
    )
    world.settle()
    attachment = Message.objects.get(dialog=dialog, author_kind=AuthorKind.OPERATOR).attachments[0]
    response = client.get(attachment["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_forged_or_tampered_file_address_is_not_found(telegram_world, client):
    world = telegram_world
    dialog = web_dialog_with_telegram_operator(world)
    world.api.add_file("photo-2", PHOTO)
    world.receive(photo_update(world.next_update_id(), user_id=OPERATOR_USER, file_id="photo-2"))
    world.settle()
    url = Message.objects.get(dialog=dialog, author_kind=AuthorKind.OPERATOR).attachments[0]["url"]
    assert client.get(url[:-3] + "xx/").status_code == 404
    assert client.get("/telegram/files/not-signed/").status_code == 404


def test_a_file_telegram_no_longer_has_is_not_found(telegram_world, client):
    world = telegram_world
    dialog = web_dialog_with_telegram_operator(world)
    world.receive(photo_update(world.next_update_id(), user_id=OPERATOR_USER, file_id="gone"))
    world.settle()
    url = Message.objects.get(dialog=dialog, author_kind=AuthorKind.OPERATOR).attachments[0]["url"]
    assert client.get(url).status_code == 404


def test_console_operator_accepting_a_telegram_client_is_unaffected_by_files(telegram_world):
    # a console accept of a Telegram dialog carries on as text; photos keep their file id
    world = telegram_world
    world.api.add_file("photo-3", PHOTO)
    world.receive(photo_update(world.next_update_id(), user_id=701, file_id="photo-3"))
    world.settle()
    message = Message.objects.get(author_kind=AuthorKind.CLIENT)
    assert message.attachments[0]["telegram_file_id"] == "photo-3"
    operator = OperatorFactory(chats=[world.bot.chat])
    request = request_open(dialog=message.dialog, reason="headset")
    assert request_accept(request=request, operator=operator).operator == operator
