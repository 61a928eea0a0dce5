"""Connect links: a single-use, expiring link that registers a Telegram account as a
operator of the bot's chat."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from distributor.models import Operator
from telegram_bridge.models import ConnectLink, OperatorAccount, TelegramBot, TelegramChat
from telegram_bridge.services.clients import TelegramUser
from telegram_bridge.services.operators.texts import operator_tell


class ConnectRefused(Exception):
    """A connect link that cannot be used; the message is for the person who tried."""


# --- connect links ------------------------------------------------------------------------


def connect_link_create(
    *, bot: TelegramBot, operator: Operator, lifetime: timedelta | None = None
) -> ConnectLink:
    lifetime = lifetime or timedelta(hours=settings.TELEGRAM_CONNECT_LINK_HOURS)
    return ConnectLink.objects.create(
        bot=bot, operator=operator, expires_at=timezone.now() + lifetime
    )


def connect_link_redeem(
    *, bot: TelegramBot, token: str, user: TelegramUser, now: datetime | None = None
) -> OperatorAccount:
    """Register the Telegram account behind `/start <token>` as the link's operator.

    Single use even under concurrent use: the link is claimed by one conditional
    UPDATE, so of two simultaneous redemptions exactly one gets the row. Raises
    ConnectRefused for an unknown, used or expired link and changes nothing then.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # one redemption per bot at a time: "already connected as another manager" and
        # the account's uniqueness are then checked against settled rows
        TelegramBot.objects.select_for_update().filter(pk=bot.pk).first()
        link = ConnectLink.objects.filter(bot=bot, token=token).select_related("operator").first()
        if link is None:
            raise ConnectRefused(_("This connect link is not valid."))
        if link.used_at is not None:
            raise ConnectRefused(_("This connect link has already been used."))
        if link.expires_at <= now:
            raise ConnectRefused(_("This connect link has expired. Ask for a new one."))
        claimed = ConnectLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=now)
        if not claimed:
            raise ConnectRefused(_("This connect link has already been used."))
        other = OperatorAccount.objects.filter(bot=bot, telegram_user_id=user.id).exclude(
            operator=link.operator
        )
        if other.exists():
            raise ConnectRefused(
                _("This Telegram account is already connected as another manager.")
            )
        account, _created = OperatorAccount.objects.update_or_create(
            bot=bot,
            operator=link.operator,
            defaults={
                "telegram_user_id": user.id,
                "telegram_username": user.username,
                "telegram_name": user.name,
                "active": True,
                "connected_at": now,
            },
        )
        ConnectLink.objects.filter(pk=link.pk).update(used_by=account)
        TelegramChat.objects.filter(bot=bot, telegram_chat_id=user.id).update(blocked_at=None)
        with override(bot.chat.language):
            operator_tell(
                account,
                _(
                    "You are connected as %(name)s. New requests of “%(chat)s” will come "
                    "here with Accept and Reject; reply to talk to the client and send "
                    "/done to close the conversation."
                )
                % {"name": link.operator.display_name, "chat": bot.chat.name},
            )
    return account
