"""What chats reaches through its handoff registry (chats.registries.handoff_entry):
whether the chat's scripts answer a dialog, the bot engine's connect-operator mark,
and every stored client message, all inside the transaction that chats runs.

The route of the dialog's channel (distributor.selectors.route_for) is read from this
process's copy under the chat's scripts_version, which message_post read with the
dialog: the message path asks the database nothing more for it."""

from __future__ import annotations

from chats.enums import DialogStatus
from chats.models import Dialog, Message
from distributor.selectors import Route, route_for
from handoff.enums import RequestReason
from handoff.models import Request
from handoff.services.conversation import request_note_client_message
from handoff.services.opening import request_open
from handoff.services.trigger import trigger_schedule


def dialog_route(dialog: Dialog) -> Route:
    """The route of the dialog's channel (cached: see the module's docstring)."""
    return route_for(chat_id=dialog.chat_id, messenger=dialog.messenger, version=dialog.bot_version)


def api_bot_client_wrote(*, dialog: Dialog, message: Message, route: Route) -> None:
    """THE API BOT CALL POINT: a client wrote in a dialog the bot has, on a channel
    routed to an API bot (route.api_bot_id). The chat's scripts did not answer
    (scripts_answer). Issue 11's bots part implements what happens here in
    distributor.services.api_bots (assign the dialog to the bot, queue the webhook
    delivery) and calls it from this function; until then nothing is done."""


class HandoffEntryPoint:
    def scripts_answer(self, *, dialog: Dialog) -> bool:
        """False when the dialog's channel is routed to managers or to an API bot. A
        dialog a person has (or is waiting for) is not the bot's anyway."""
        if dialog.status != DialogStatus.BOT:
            return True
        return dialog_route(dialog).scripts_answer

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
        elif route.to_api_bot:
            api_bot_client_wrote(dialog=dialog, message=message, route=route)
        else:
            trigger_schedule(dialog=dialog)
