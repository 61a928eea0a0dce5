"""A bot's capacity holds when many clients write at once (run on PostgreSQL with
tests/with_postgres.sh; on SQLite the writers take turns)."""

from __future__ import annotations

import pytest

from chats.enums import Messenger
from chats.services import dialog_receive_client_message, dialog_start_or_resume
from distributor.models import BotAssignment, WebhookDelivery
from tests.bots.conftest import register_bot
from tests.chats.factories import ChatFactory
from tests.threads import run_in_threads


@pytest.mark.django_db(transaction=True)
def test_clients_writing_at_once_never_take_a_bot_over_its_capacity(webhook_receiver):
    # given a bot with room for 3 dialogs
    chat = ChatFactory()
    routed = register_bot(chat=chat, url=webhook_receiver.url, capacity=3)

    def client_writes(index: int) -> None:
        dialog, _created = dialog_start_or_resume(
            chat=chat, messenger=Messenger.WEB, external_id=f"visitor-{index}"
        )
        dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id=f"m{index}")

    # when 12 clients write at the same instant
    assert run_in_threads(12, client_writes) == []

    # then exactly 3 dialogs are the bot's, each announced once
    held = BotAssignment.objects.filter(bot=routed.bot, released_at__isnull=True)
    assert held.count() == 3
    assigned = WebhookDelivery.objects.filter(bot=routed.bot, event="dialog.assigned")
    assert sorted(item.payload["dialog"]["session_id"] for item in assigned) == sorted(
        held.values_list("dialog__session_id", flat=True)
    )
