"""A manager's presence from Telegram: /online, /away and /offline. A presence set here
does not expire (a manager on Telegram has no heartbeat): it lasts until they change it,
here or in the console. Every open console of theirs shows the change."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import override

from distributor.enums import Presence
from distributor.services import operator_presence_set
from handoff.realtime import presence_changed_publish
from telegram_bridge.models import OperatorAccount
from telegram_bridge.services.operators.texts import operator_tell

PRESENCE_COMMANDS = {
    "online": Presence.ONLINE,
    "away": Presence.AWAY,
    "offline": Presence.OFFLINE,
}


def operator_presence_command(*, account: OperatorAccount, command: str) -> None:
    """Set the manager's presence from one of PRESENCE_COMMANDS and confirm it."""
    presence = PRESENCE_COMMANDS[command]
    with transaction.atomic():
        operator_presence_set(operator=account.operator, presence=presence, expires_at=None)
        presence_changed_publish(operator_id=account.operator_id, presence=presence)
        with override(account.bot.chat.language):
            operator_tell(account, _presence_confirmation(presence))


def _presence_confirmation(presence: str) -> str:
    if presence == Presence.ONLINE:
        return _("You are online: new requests come to you.")
    if presence == Presence.AWAY:
        return _(
            "You are away: you keep your conversations, new requests go to others. "
            "/online when you are back."
        )
    return _("You are offline: no new requests come to you. /online when you are back.")
