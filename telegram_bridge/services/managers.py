"""Managers on Telegram: connect links, alerts with Accept / Reject, relaying a
conversation both ways, /done. Accepting, rejecting, writing and closing go through
handoff's services, the same ones the console calls, so the first accept wins once."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AuthorKind
from chats.models import Message
from distributor.models import Manager
from handoff.enums import RequestStatus
from handoff.models import Request
from handoff.services import (
    HandoffError,
    IllegalTransition,
    NotYourRequest,
    RequestAlreadyTaken,
    operator_message_post,
    request_accept,
    request_close,
    request_reject,
)
from handoff.services.requests import handoff_settings_for, working_hours_for
from telegram_bridge.models import (
    AlertState,
    ConnectLink,
    ManagerAccount,
    ManagerAlert,
    ManagerSession,
    OutboundMessage,
    SendPurpose,
    TelegramBot,
    TelegramChat,
)
from telegram_bridge.services.clients import MEDIA_KINDS, TelegramUser
from telegram_bridge.services.outbox import TEXT_LIMIT, keyboard, outbound_enqueue

SUMMARY_MESSAGES = 6


class ConnectRefused(Exception):
    """A connect link that cannot be used; the message is for the person who tried."""


# --- connect links ------------------------------------------------------------------------


def connect_link_create(
    *, bot: TelegramBot, manager: Manager, lifetime: timedelta | None = None
) -> ConnectLink:
    lifetime = lifetime or timedelta(hours=settings.TELEGRAM_CONNECT_LINK_HOURS)
    return ConnectLink.objects.create(
        bot=bot, manager=manager, expires_at=timezone.now() + lifetime
    )


def connect_link_redeem(
    *, bot: TelegramBot, token: str, user: TelegramUser, now: datetime | None = None
) -> ManagerAccount:
    """Register the Telegram account behind `/start <token>` as the link's manager.

    Single use even under concurrent use: the link is claimed by one conditional
    UPDATE, so of two simultaneous redemptions exactly one gets the row. Raises
    ConnectRefused for an unknown, used or expired link and changes nothing then.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # one redemption per bot at a time: "already connected as another manager" and
        # the account's uniqueness are then checked against settled rows
        TelegramBot.objects.select_for_update().filter(pk=bot.pk).first()
        link = ConnectLink.objects.filter(bot=bot, token=token).select_related("manager").first()
        if link is None:
            raise ConnectRefused(_("This connect link is not valid."))
        if link.used_at is not None:
            raise ConnectRefused(_("This connect link has already been used."))
        if link.expires_at <= now:
            raise ConnectRefused(_("This connect link has expired. Ask for a new one."))
        claimed = ConnectLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=now)
        if not claimed:
            raise ConnectRefused(_("This connect link has already been used."))
        other = ManagerAccount.objects.filter(bot=bot, telegram_user_id=user.id).exclude(
            manager=link.manager
        )
        if other.exists():
            raise ConnectRefused(
                _("This Telegram account is already connected as another manager.")
            )
        account, _created = ManagerAccount.objects.update_or_create(
            bot=bot,
            manager=link.manager,
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
            _tell(
                account,
                _(
                    "You are connected as %(name)s. New requests of “%(chat)s” will come "
                    "here with Accept and Reject; reply to talk to the client and send "
                    "/done to close the conversation."
                )
                % {"name": link.manager.display_name, "chat": bot.chat.name},
            )
    return account


# --- alerts -------------------------------------------------------------------------------


def _tell(account: ManagerAccount, text: str, *, request_id: int | None = None, **extra):
    return outbound_enqueue(
        bot=account.bot_id,
        telegram_chat_id=account.telegram_user_id,
        method="sendMessage",
        payload={"text": text, **extra},
        purpose=SendPurpose.MANAGER,
        request_id=request_id,
    )


def _client_label(request: Request) -> str:
    client = request.dialog.client
    return client.name or f"{client.messenger} {client.external_id[:8]}"


def alert_text(request: Request) -> str:
    """The conversation summary a manager decides on: who, where, the form, the last
    messages."""
    dialog = request.dialog
    with override(request.chat.language):
        lines = [
            _("New request in “%(chat)s”") % {"chat": request.chat.name},
            _("Client: %(client)s (%(messenger)s)")
            % {"client": _client_label(request), "messenger": dialog.get_messenger_display()},
        ]
        if request.form_answers:
            lines.append("")
            lines.extend(
                f"• {answer['label']}: {answer['value'] or '—'}" for answer in request.form_answers
            )
        recent = list(
            Message.objects.filter(dialog=dialog)
            .exclude(author_kind=AuthorKind.SYSTEM)
            .order_by("-sequence")[:SUMMARY_MESSAGES]
        )
        if recent:
            lines.append("")
            for message in reversed(recent):
                lines.append(f"{_author_label(request, message)}: {message.text[:300]}")
    return "\n".join(lines)


def _author_label(request: Request, message: Message) -> str:
    if message.author_kind == AuthorKind.CLIENT:
        return _client_label(request)
    if message.author_name:
        return message.author_name
    return _("Bot") if message.author_kind == AuthorKind.BOT else _("Operator")


def _eligible_accounts(request: Request) -> list[ManagerAccount]:
    """Managers on this chat's bot who serve the chat, have not passed on this request,
    have not blocked the bot, while the chat is within its working hours."""
    hours = working_hours_for(handoff_settings_for(request.chat_id))
    if not hours.is_open(timezone.now()):
        return []
    blocked = TelegramChat.objects.filter(
        bot__chat_id=request.chat_id, blocked_at__isnull=False
    ).values_list("telegram_chat_id", flat=True)
    return list(
        ManagerAccount.objects.filter(
            bot__chat_id=request.chat_id,
            active=True,
            manager__chats=request.chat_id,
        )
        .exclude(manager__in=request.rejected_by.all())
        .exclude(telegram_user_id__in=blocked)
        .select_related("manager")
    )


def _alert_buttons(request: Request) -> list[list[dict]]:
    with override(request.chat.language):
        return keyboard(
            [
                [
                    {"text": _("Accept"), "callback_data": f"a:{request.pk}"},
                    {"text": _("Reject"), "callback_data": f"x:{request.pk}"},
                ]
            ]
        )


def _alerts_send(request: Request, summary: str) -> None:
    existing = set(
        ManagerAlert.objects.filter(request=request).values_list("account_id", flat=True)
    )
    buttons = _alert_buttons(request)
    for account in _eligible_accounts(request):
        if account.pk in existing:
            continue
        try:
            with transaction.atomic():
                alert = ManagerAlert.objects.create(request=request, account=account)
        except IntegrityError:
            continue
        outbound_enqueue(
            bot=account.bot_id,
            telegram_chat_id=account.telegram_user_id,
            method="sendMessage",
            payload={"text": summary, "keyboard": buttons},
            purpose=SendPurpose.ALERT,
            alert=alert,
            request_id=request.pk,
        )


def _alert_edit(
    alert: ManagerAlert, request: Request, state: str, note: str, summary: str | None = None
) -> None:
    ManagerAlert.objects.filter(pk=alert.pk).update(state=state)
    summary = (summary or alert_text(request))[: TEXT_LIMIT - len(note) - 3]  # keep the note
    outbound_enqueue(
        bot=alert.account.bot_id,
        telegram_chat_id=alert.account.telegram_user_id,
        method="editMessageText",
        payload={"text": f"{summary}\n\n{note}"},
        purpose=SendPurpose.ALERT,
        alert=alert,
        request_id=request.pk,
    )


def _group_notice(bot: TelegramBot, request: Request, summary: str) -> None:
    if bot.notice_group_id is None:
        return
    if OutboundMessage.objects.filter(
        bot=bot, purpose=SendPurpose.GROUP_NOTICE, request_id=request.pk
    ).exists():
        return
    outbound_enqueue(
        bot=bot,
        telegram_chat_id=bot.notice_group_id,
        method="sendMessage",
        payload={"text": summary},
        purpose=SendPurpose.GROUP_NOTICE,
        request_id=request.pk,
    )


class TelegramSurface:
    """Registered with handoff.registries.operator_surfaces."""

    def request_changed(self, request: Request) -> None:
        bot = TelegramBot.objects.filter(chat_id=request.chat_id).first()
        if bot is None:
            return
        if request.status in Request.WAITING_STATUSES:
            summary = alert_text(request)
            _alerts_send(request, summary)
            _group_notice(bot, request, summary)
            return
        open_alerts = list(
            ManagerAlert.objects.filter(request=request, state=AlertState.OPEN).select_related(
                "account"
            )
        )
        summary = alert_text(request) if open_alerts else ""
        with override(request.chat.language):
            if request.status == RequestStatus.ACCEPTED:
                name = request.operator.display_name if request.operator else "?"
                for alert in open_alerts:
                    if alert.account.manager_id == request.operator_id:
                        _alert_edit(
                            alert, request, AlertState.ACCEPTED, _("✅ You accepted."), summary
                        )
                    else:
                        _alert_edit(
                            alert,
                            request,
                            AlertState.TAKEN,
                            _("Taken by %(name)s.") % {"name": name},
                            summary,
                        )
            elif request.status == RequestStatus.CLOSED:
                note = _("Closed: %(reason)s.") % {"reason": request.get_close_reason_display()}
                for alert in open_alerts:
                    _alert_edit(alert, request, AlertState.CLOSED, note, summary)
                _session_end(request)

    def client_message(self, request: Request, message: Message) -> None:
        session = (
            ManagerSession.objects.filter(request=request, ended_at__isnull=True)
            .select_related("account")
            .first()
        )
        if session is None:
            return
        account = session.account
        label = _client_label(request)
        text = f"{label}: {message.text}"
        sent_media = False
        for item in message.attachments:
            if item.get("kind") in MEDIA_KINDS and item.get("bot") == account.bot_id:
                field = "photo" if item["kind"] == "photo" else "document"
                outbound_enqueue(
                    bot=account.bot_id,
                    telegram_chat_id=account.telegram_user_id,
                    method="sendPhoto" if field == "photo" else "sendDocument",
                    payload={field: item["telegram_file_id"], "caption": text},
                    purpose=SendPurpose.MANAGER,
                    request_id=request.pk,
                    message_id=message.pk,
                )
                sent_media = True
        if not sent_media:
            outbound_enqueue(
                bot=account.bot_id,
                telegram_chat_id=account.telegram_user_id,
                method="sendMessage",
                payload={"text": text},
                purpose=SendPurpose.MANAGER,
                request_id=request.pk,
                message_id=message.pk,
            )


def _session_end(request: Request) -> None:
    session = (
        ManagerSession.objects.filter(request=request, ended_at__isnull=True)
        .select_related("account")
        .first()
    )
    if session is None:
        return
    ManagerSession.objects.filter(pk=session.pk).update(ended_at=timezone.now())
    account = session.account
    if account.current_request_id == request.pk:
        following = (
            ManagerSession.objects.filter(account=account, ended_at__isnull=True)
            .exclude(request=request)
            .order_by("-started_at")
            .values_list("request_id", flat=True)
            .first()
        )
        ManagerAccount.objects.filter(pk=account.pk).update(current_request_id=following)
    _tell(
        account,
        _("The conversation with %(client)s is closed (%(reason)s).")
        % {"client": _client_label(request), "reason": request.get_close_reason_display()},
        request_id=request.pk,
    )


# --- what a manager does in Telegram ---------------------------------------------------------


def _request_for(account: ManagerAccount, request_id: int) -> Request | None:
    return (
        Request.objects.select_related("dialog__client", "chat", "operator")
        .filter(pk=request_id, chat_id=account.bot.chat_id)
        .first()
    )


def manager_accept(*, account: ManagerAccount, request_id: int) -> Request | None:
    """Accept from an alert: the same service as the console, so the first accept wins.
    The winner gets the conversation relayed here; a loser's alert says who took it."""
    request = _request_for(account, request_id)
    language = account.bot.chat.language
    if request is None:
        return None
    with override(language):
        try:
            with transaction.atomic():
                accepted = request_accept(request=request, operator=account.manager)
                ManagerSession.objects.create(request=accepted, account=account)
                ManagerAccount.objects.filter(pk=account.pk).update(current_request=accepted)
                history = list(
                    Message.objects.filter(dialog_id=accepted.dialog_id)
                    .exclude(author_kind=AuthorKind.SYSTEM)
                    .order_by("-sequence")[:SUMMARY_MESSAGES]
                )
                _tell(
                    account,
                    _(
                        "You are talking to %(client)s now. Write here to answer; "
                        "/done closes the conversation."
                    )
                    % {"client": _client_label(accepted)}
                    + ("\n\n" if history else "")
                    + "\n".join(
                        f"{_author_label(accepted, message)}: {message.text[:300]}"
                        for message in reversed(history)
                    ),
                    request_id=accepted.pk,
                )
            return accepted
        except RequestAlreadyTaken:
            _alert_settle(account, request)
        except NotYourRequest:
            _tell(account, _("You no longer serve this chat."))
        except IllegalTransition:
            _alert_settle(account, request)
        except HandoffError as refusal:
            # refused for this manager only (e.g. at their cap): the request stays open
            # for the others and the alert keeps its buttons, so they can try later
            _tell(account, str(refusal), request_id=request.pk)
    return None


def _alert_settle(account: ManagerAccount, request: Request) -> None:
    """A tap on an alert that is no longer open: make sure its buttons are gone."""
    request.refresh_from_db()
    alert = ManagerAlert.objects.filter(request=request, account=account).first()
    if alert is None or alert.state != AlertState.OPEN:
        return
    if request.status == RequestStatus.ACCEPTED and request.operator:
        note = _("Taken by %(name)s.") % {"name": request.operator.display_name}
        _alert_edit(alert, request, AlertState.TAKEN, note)
    else:
        _alert_edit(alert, request, AlertState.CLOSED, _("This request is no longer open."))


def manager_reject(*, account: ManagerAccount, request_id: int) -> None:
    request = _request_for(account, request_id)
    if request is None:
        return
    with override(account.bot.chat.language), transaction.atomic():
        try:
            request_reject(request=request, operator=account.manager)
        except IllegalTransition:
            _alert_settle(account, request)
            return
        except HandoffError as refusal:
            _tell(account, str(refusal), request_id=request.pk)
            return
        alert = ManagerAlert.objects.filter(request=request, account=account).first()
        if alert is not None:
            _alert_edit(alert, request, AlertState.REJECTED, _("You passed on this request."))


def _help(account: ManagerAccount) -> None:
    with override(account.bot.chat.language):
        _tell(
            account,
            _(
                "Alerts about new requests come here. Tap Accept to take one, then write "
                "here to answer the client (reply to one of their messages to pick a "
                "conversation when you have several). /done closes the conversation."
            ),
        )


def _held(account: ManagerAccount, request_id: int | None) -> Request | None:
    """The request if this manager holds it now."""
    if request_id is None:
        return None
    request = _request_for(account, request_id)
    if request is None or request.status != RequestStatus.ACCEPTED:
        return None
    return request if request.operator_id == account.manager_id else None


def _target_request(account: ManagerAccount, reply_to: int | None) -> Request | None:
    """A reply to one of a client's relayed messages goes to that conversation (while it
    is open); anything else to the current one."""
    if reply_to is not None:
        replied = (
            OutboundMessage.objects.filter(
                bot_id=account.bot_id,
                telegram_chat_id=account.telegram_user_id,
                telegram_message_id=reply_to,
            )
            .values_list("request_id", flat=True)
            .first()
        )
        request = _held(account, replied)
        if request is not None:
            return request
    return _held(account, account.current_request_id)


def manager_message_receive(
    *,
    account: ManagerAccount,
    update_id: int,
    text: str,
    command: str | None,
    attachments: list[dict] | None = None,
    reply_to: int | None = None,
) -> None:
    """A manager wrote to the bot: a reply goes to the client "as {name}"; /done closes;
    any other command gets the help text."""
    language = account.bot.chat.language
    with override(language):
        if command is not None and command != "done":
            _help(account)
            return
        request = _target_request(account, reply_to)
        if request is None:
            _tell(account, _("You have no open conversation. Wait for an alert and tap Accept."))
            return
        try:
            if command == "done":
                request_close(request=request, reason="operator", actor=account.manager)
                return
            operator_message_post(
                request=request,
                operator=account.manager,
                text=text or "…",
                attachments=attachments,
                client_msg_id=f"tg:{update_id}",
            )
        except HandoffError as error:
            _tell(account, str(error))
