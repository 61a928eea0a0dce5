"""What chats reaches through its handoff registry (chats.registries.handoff_entry):
the bot engine's connect-operator mark and every stored client message, both inside
the transaction that chats runs."""

from __future__ import annotations

from chats.enums import DialogStatus
from chats.models import Dialog, Message
from distributor.services.api_bots import api_bot_client_wrote, api_bot_for_dialog
from handoff.models import Request
from handoff.services.conversation import request_note_client_message
from handoff.services.opening import request_open
from handoff.services.trigger import trigger_schedule


class HandoffEntryPoint:
    def scripts_answer(self, *, dialog: Dialog) -> bool:
        # TODO(issue 11, assignment helper): False when the dialog's channel is routed
        # to managers (distributor's routing rule, cached)
        # (bots helper) an API bot with room takes the dialog: the same decision
        # client_wrote's assignment makes (distributor.services.api_bots)
        return api_bot_for_dialog(dialog=dialog) is None

    def open_request(self, *, dialog: Dialog, reason: str) -> Request | None:
        return request_open(dialog=dialog, reason=reason)

    def client_wrote(self, *, dialog: Dialog, message: Message) -> None:
        if dialog.status == DialogStatus.BOT:
            # an API bot holding (or now taking) the dialog gets the message on its
            # webhook, and the chat's trigger stays out of its way
            if api_bot_client_wrote(dialog=dialog, message=message):
                return
            trigger_schedule(dialog=dialog)
        else:
            request_note_client_message(dialog=dialog, message=message)
