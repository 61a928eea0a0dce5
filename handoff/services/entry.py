"""What chats reaches through its handoff registry (chats.registries.handoff_entry):
whether the chat's scripts answer a dialog, the bot engine's connect-operator mark,
and every stored client message, all inside the transaction that chats runs.

The route of the dialog's channel (distributor.selectors.route_for) is read from this
process's copy under the chat's scripts_version, which message_post read with the
dialog: the message path asks the database nothing more for it. Only a channel routed
to an API bot reads more (the bot's capacity: distributor.services.api_bots)."""

from __future__ import annotations

from chats.enums import DialogStatus
from chats.models import Dialog, Message
from distributor.selectors import Route, route_for
from distributor.services.api_bots import api_bot_client_wrote, api_bot_for_dialog
from handoff.enums import RequestReason
from handoff.models import Request
from handoff.services.conversation import request_note_client_message
from handoff.services.opening import request_open
from handoff.services.trigger import trigger_schedule


def dialog_route(dialog: Dialog) -> Route:
    """The route of the dialog's channel (cached: see the module's docstring)."""
    return route_for(chat_id=dialog.chat_id, messenger=dialog.messenger, version=dialog.bot_version)


class HandoffEntryPoint:
    def scripts_answer(self, *, dialog: Dialog) -> bool:
        """False when the dialog's channel is routed to managers, or to an API bot with
        room for it (over its capacity, the chat's scripts answer: api_bot_for_dialog
        is the one decision for this and for client_wrote). A dialog a person has (or
        is waiting for) is not the bot's anyway."""
        if dialog.status != DialogStatus.BOT:
            return True
        route = dialog_route(dialog)
        if route.to_managers:
            return False
        if route.to_api_bot:
            return api_bot_for_dialog(dialog=dialog) is None
        return True

    def open_request(self, *, dialog: Dialog, reason: str) -> Request | None:
        return request_open(dialog=dialog, reason=reason)

    def client_wrote(self, *, dialog: Dialog, message: Message) -> None:
        if dialog.status != DialogStatus.BOT:
            request_note_client_message(dialog=dialog, message=message)
            return
        route = dialog_route(dialog)
        if route.to_managers:
            # routed to managers: the client's message asks for one
            request_open(dialog=dialog, reason=RequestReason.ROUTING)
            return
        # the API bot call point: an API bot holding (or now taking) the dialog gets the
        # message on its webhook, and the chat's trigger stays out of its way
        if route.to_api_bot and api_bot_client_wrote(dialog=dialog, message=message):
            return
        trigger_schedule(dialog=dialog)
