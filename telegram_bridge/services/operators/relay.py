"""A conversation an operator accepted on Telegram: the client's messages are relayed
to them, what they write goes to the client as coming from them, /done closes. The
surface handoff calls (TelegramSurface) is here."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AuthorKind
from chats.models import Message
from distributor.models import Operator
from handoff.enums import RequestStatus
from handoff.models import Request, RequestEvent
from handoff.services import HandoffError, operator_message_post, request_close
from telegram_bridge.models import (
    OperatorAccount,
    OperatorSession,
    OutboundMessage,
    SendPurpose,
    TransferDraft,
)
from telegram_bridge.selectors import request_held_by_account
from telegram_bridge.services.clients import MEDIA_KINDS, bot_of_chat
from telegram_bridge.services.clients.sending import (
    media_send,
    media_takes_caption,
    upload_send,
)
from telegram_bridge.services.operators.alerts import alerts_update, transfer_button
from telegram_bridge.services.operators.presence import (
    PRESENCE_COMMANDS,
    operator_presence_command,
)
from telegram_bridge.services.operators.texts import (
    SUMMARY_MESSAGES,
    author_label,
    client_label,
    operator_tell,
)
from telegram_bridge.services.operators.transfers import (
    transfer_cancel,
    transfer_complete,
    transfer_draft_of,
    transfer_targets_offer,
)
from telegram_bridge.services.outbox import outbound_enqueue
from telegram_bridge.services.outbox.writing import CAPTION_LIMIT


class TelegramSurface:
    """Registered with handoff.registries.operator_surfaces."""

    # the operator on Telegram who holds a request, if any: loaded with the request (a
    # JOIN on the session's unique request), so a client's message in a conversation
    # no operator on Telegram holds costs nothing here
    request_related = ("telegram_session__account",)
    # the chat's bot, if any: loaded with the chat where the request is locked (a JOIN),
    # so a request's change costs no bot lookup
    chat_related = ("telegram_bot",)

    def request_changed(self, request: Request) -> None:
        chat = request.chat if Request.chat.is_cached(request) else None
        bot = bot_of_chat(request.chat_id, chat=chat)
        if bot is None:
            return
        alerts_update(bot=bot, request=request)
        if request.status == RequestStatus.CLOSED:
            TransferDraft.objects.filter(request=request).delete()
            with override(request.chat.language):
                _session_end(request)
        elif request.status == RequestStatus.ACCEPTED:
            with override(request.chat.language):
                _session_follow(bot, request)

    def client_message(self, request: Request, message: Message) -> None:
        if Request.telegram_session.is_cached(request):
            session = getattr(request, "telegram_session", None)  # None: there is none
            if session is not None and session.ended_at is not None:
                session = None
        else:  # a caller that did not load it
            session = _session_open(request)
        if session is None:
            return
        account = session.account
        label = client_label(request)
        text = f"{label}: {message.text}"
        sent_media = False
        uncaptioned: list[tuple[str, dict]] = []  # stickers: after the "who" line
        for item in message.attachments:
            if item.get("kind") in MEDIA_KINDS and item.get("bot") == account.bot_id:
                method, payload = media_send(item, text)
                if not media_takes_caption(item):
                    uncaptioned.append((method, payload))
                    continue
                _operator_send(account, request, message, method, payload)
                sent_media = True
            elif item.get("kind") in MEDIA_KINDS and item.get("upload_id") is not None:
                # a web visitor's upload: sent from our disk, captioned "Ann" without text
                # (the text is said once: files after the first are captioned "Ann")
                caption = text if message.text.strip() and not sent_media else label
                if len(caption) > CAPTION_LIMIT:
                    # a caption holds 1024 characters: a longer text goes first, whole
                    _operator_send(account, request, message, "sendMessage", {"text": text})
                    sent_media = True
                    caption = label
                upload = upload_send(item, caption)
                if upload is not None:
                    _operator_send(account, request, message, *upload)
                    sent_media = True
        if not sent_media:
            _operator_send(account, request, message, "sendMessage", {"text": text})
        for method, payload in uncaptioned:
            _operator_send(account, request, message, method, payload)


def _operator_send(
    account: OperatorAccount, request: Request, message: Message, method: str, payload: dict
) -> None:
    outbound_enqueue(
        bot=account.bot_id,
        telegram_chat_id=account.telegram_user_id,
        method=method,
        payload=payload,
        purpose=SendPurpose.OPERATOR,
        request_id=request.pk,
        message_id=message.pk,
    )


def _session_open(request: Request) -> OperatorSession | None:
    """The session (with its account) of the operator on Telegram who holds `request`
    now, if any."""
    return (
        OperatorSession.objects.filter(request=request, ended_at__isnull=True)
        .select_related("account")
        .first()
    )


def _session_end(request: Request) -> None:
    session = _session_open(request)
    if session is None:
        return
    OperatorSession.objects.filter(pk=session.pk).update(ended_at=timezone.now())
    account = session.account
    _current_request_forget(account, request)
    operator_tell(
        account,
        _("The conversation with %(client)s is closed (%(reason)s).")
        % {"client": client_label(request), "reason": request.get_close_reason_display()},
        request_id=request.pk,
    )


def _last_transfer(request: Request) -> RequestEvent | None:
    """The request's last event if it is a transfer between operators (accepted ->
    accepted), else None."""
    last = RequestEvent.objects.filter(request=request).order_by("-created_at", "-id").first()
    if last is None or (last.from_status, last.to_status) != (
        RequestStatus.ACCEPTED,
        RequestStatus.ACCEPTED,
    ):
        return None
    return last


def _session_follow(bot, request: Request) -> None:
    """An accepted request changed hands (a transfer, from any surface): the manager on
    Telegram who held it stops getting the client's messages and is told who has it
    now; the new holder, when they are on this bot, gets the conversation here (with
    who transferred it, why, and the last messages). A plain accept changes nothing
    here (operator_accept opens its session itself)."""
    session = OperatorSession.objects.filter(request=request).select_related("account").first()
    if (
        session is not None
        and session.ended_at is None
        and session.account.operator_id == request.operator_id
    ):
        return
    transfer = _last_transfer(request)
    if transfer is None:
        return
    TransferDraft.objects.filter(request=request).delete()
    now = timezone.now()
    name = request.operator.display_name if request.operator else "?"
    if session is not None and session.ended_at is None:
        OperatorSession.objects.filter(pk=session.pk).update(ended_at=now)
        _current_request_forget(session.account, request)
        operator_tell(
            session.account,
            _("The conversation with %(client)s is now with %(name)s.")
            % {"client": client_label(request), "name": name},
            request_id=request.pk,
        )
    account = (
        OperatorAccount.objects.filter(bot=bot, operator_id=request.operator_id, active=True)
        .select_related("operator")
        .first()
    )
    if account is None:
        return
    if session is not None:
        OperatorSession.objects.filter(pk=session.pk).update(
            account=account, started_at=now, ended_at=None
        )
    else:
        OperatorSession.objects.create(request=request, account=account)
    OperatorAccount.objects.filter(pk=account.pk).update(current_request=request)
    giver = (
        Operator.objects.filter(user_id=transfer.actor_id)
        .values_list("display_name", flat=True)
        .first()
        if transfer.actor_id
        else None
    )
    reason = transfer.note.partition(": ")[2] or transfer.note
    history = list(
        Message.objects.filter(dialog_id=request.dialog_id)
        .exclude(author_kind=AuthorKind.SYSTEM)
        .order_by("-sequence")[:SUMMARY_MESSAGES]
    )
    operator_tell(
        account,
        _(
            "%(giver)s transferred the conversation with %(client)s to you: %(reason)s\n"
            "Write here to answer; /done closes the conversation."
        )
        % {"giver": giver or _("A manager"), "client": client_label(request), "reason": reason}
        + ("\n\n" if history else "")
        + "\n".join(
            f"{author_label(request, message)}: {message.text[:300]}"
            for message in reversed(history)
        ),
        request_id=request.pk,
        keyboard=transfer_button(request),
    )


def _current_request_forget(account: OperatorAccount, request: Request) -> None:
    """`request` is no longer the account's: its current conversation becomes its latest
    other open one."""
    if account.current_request_id != request.pk:
        return
    following = (
        OperatorSession.objects.filter(account=account, ended_at__isnull=True)
        .exclude(request=request)
        .order_by("-started_at")
        .values_list("request_id", flat=True)
        .first()
    )
    OperatorAccount.objects.filter(pk=account.pk).update(current_request_id=following)


def _help(account: OperatorAccount) -> None:
    with override(account.bot.chat.language):
        operator_tell(
            account,
            _(
                "Alerts about new requests come here. Tap Accept to take one, then write "
                "here to answer the client (reply to one of their messages to pick a "
                "conversation when you have several). /done closes the conversation; "
                "/transfer hands it to another manager or back to the bot. /online, "
                "/away and /offline set whether new requests come to you."
            ),
        )


def _target_request(account: OperatorAccount, reply_to: int | None) -> Request | None:
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
        request = request_held_by_account(account, replied)
        if request is not None:
            return request
    return request_held_by_account(account, account.current_request_id)


def operator_message_receive(
    *,
    account: OperatorAccount,
    update_id: int,
    text: str,
    command: str | None,
    attachments: list[dict] | None = None,
    reply_to: int | None = None,
) -> None:
    """An operator wrote to the bot: a reply goes to the client "as {name}"; /done closes;
    /online, /away, /offline set their presence; /transfer starts a transfer and, once
    its target is chosen, their next text is its reason (not relayed); /cancel drops
    it; any other command gets the help text."""
    language = account.bot.chat.language
    with override(language):
        if command in PRESENCE_COMMANDS:
            operator_presence_command(account=account, command=command)
            return
        if command == "transfer":
            request = _target_request(account, reply_to)
            transfer_targets_offer(account=account, request_id=request.pk if request else None)
            return
        if command == "cancel":
            if not transfer_cancel(account=account):
                operator_tell(account, _("There is nothing to cancel."))
            return
        if command is not None and command != "done":
            _help(account)
            return
        draft = transfer_draft_of(account)
        if draft is not None:
            if command == "done" or not text.strip() or attachments:
                # the reason is a text; anything else drops the transfer being written
                TransferDraft.objects.filter(pk=draft.pk).delete()
            else:
                transfer_complete(account=account, draft=draft, reason=text)
                return
        request = _target_request(account, reply_to)
        if request is None:
            operator_tell(
                account, _("You have no open conversation. Wait for an alert and tap Accept.")
            )
            return
        try:
            if command == "done":
                request_close(request=request, reason="operator", actor=account.operator)
                return
            operator_message_post(
                request=request,
                operator=account.operator,
                text=text or "…",
                attachments=attachments,
                client_msg_id=f"tg:{update_id}",
            )
        except HandoffError as error:
            operator_tell(account, str(error))
