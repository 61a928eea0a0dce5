"""Issue 8 on Telegram: a request records the true reason (/human is "command", also
through the pre-handoff form), and /end without a conversation ends the dialog."""

from __future__ import annotations

import pytest

from chats.enums import DialogStatus
from chats.models import Dialog
from handoff.enums import FormFieldKind, RequestReason
from handoff.models import FormField, HandoffSettings, Request
from tests.telegram_bridge.telegram_updates import text_update

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 501


def say(world, text: str) -> None:
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text=text))
    world.settle()


def test_human_records_the_command_as_the_reason(telegram_world):
    world = telegram_world
    say(world, "hello")
    # when
    say(world, "/human")
    # then
    assert Request.objects.get().reason == RequestReason.COMMAND


def test_human_through_the_form_records_the_command_and_names_the_client(telegram_world):
    world = telegram_world
    settings = HandoffSettings.objects.get(chat_id=world.bot.chat_id)
    FormField.objects.create(
        settings=settings, position=0, label="Your name?", kind=FormFieldKind.NAME
    )
    FormField.objects.create(
        settings=settings, position=1, label="Your e-mail?", kind=FormFieldKind.EMAIL
    )
    say(world, "hello")
    say(world, "/human")
    # when
    say(world, "Ann Lee")
    say(world, "ann@example.com")
    # then
    request = Request.objects.get()
    assert request.reason == RequestReason.COMMAND
    client = request.dialog.client
    assert client.name == "Ann Lee"
    assert client.customer_binding.customer.email == "ann@example.com"


def test_end_without_a_conversation_ends_the_dialog_and_the_next_message_starts_anew(
    telegram_world,
):
    world = telegram_world
    say(world, "hello")
    first = Dialog.objects.get()
    # when
    say(world, "/end")
    # then
    first.refresh_from_db()
    assert first.status == DialogStatus.CLOSED
    assert world.texts_to(CLIENT)[-1] == "The chat has ended."
    say(world, "hello again")
    assert Dialog.objects.exclude(pk=first.pk).get().status == DialogStatus.BOT
