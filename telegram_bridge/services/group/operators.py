"""What operators write in a client's topic: the first reply accepts a waiting request
(the first accept wins across the console, Telegram alerts and the topic), replies go
to the client under each operator's name (several may answer in one topic), /close
closes, a message starting with the bot's internal prefix stays in the group. Edits
of a relayed message are made on the other side too."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.models import Message
from handoff.enums import CloseReason, RequestStatus
from handoff.models import Request
from handoff.services import HandoffError, operator_message_post, request_accept, request_close
from telegram_bridge.models import (
    ClientTopic,
    OperatorAccount,
    OutboundMessage,
    SendPurpose,
    SendStatus,
    TelegramBot,
    TelegramUpdate,
    TopicLink,
)
from telegram_bridge.services.group.copying import topic_enqueue
from telegram_bridge.services.outbox import outbound_enqueue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicMessage:
    """A message written in a topic of the forum group, as the router parsed it."""

    update_id: int
    thread_id: int
    message_id: int
    user_id: int
    text: str
    command: str | None
    attachments: list[dict]
    media_group_id: str | None = None


def topic_of_thread(bot: TelegramBot, thread_id: int) -> ClientTopic | None:
    return (
        ClientTopic.objects.filter(
            bot=bot, group_id=bot.forum_group_id, message_thread_id=thread_id
        )
        .select_related("request", "client")
        .first()
    )


def _say(bot: TelegramBot, topic: ClientTopic, text: str) -> None:
    topic_enqueue(bot=bot, topic=topic, method="sendMessage", payload={"text": text})


def _not_served() -> str:
    return _("you do not serve this chat or its channel")


def is_internal(bot: TelegramBot, text: str) -> bool:
    prefix = bot.internal_prefix.strip()
    return bool(prefix) and text.lstrip().startswith(prefix)


@transaction.atomic(savepoint=False)  # inside the update's transaction: no savepoint
def topic_message_handle(*, bot: TelegramBot, message: TopicMessage) -> None:
    """A message in a topic. The General topic, topics of no client, internal comments
    and people who are not managers connected to this bot change nothing."""
    topic = topic_of_thread(bot, message.thread_id)
    if topic is None or is_internal(bot, message.text) or _album_left_in_group(bot, message):
        return
    account = (
        OperatorAccount.objects.select_related("operator")
        .filter(bot=bot, telegram_user_id=message.user_id, active=True)
        .first()
    )
    if account is None:
        return  # a group member who is not a connected manager: a comment among them
    operator = account.operator
    request = topic.request
    with override(bot.chat.language):
        if message.command == "close":
            _close(bot, topic, request, operator)
            return
        if message.command is not None:  # not for the client: say what works here
            hint = _("In a topic, /close ends the conversation; what you write goes to the client.")
            if bot.internal_prefix.strip():
                hint += " " + _("A message starting with %(prefix)s stays in the group.") % {
                    "prefix": bot.internal_prefix.strip()
                }
            _say(bot, topic, hint)
            return
        if request is None or request.status not in Request.OPEN_STATUSES:
            _say(bot, topic, _("This conversation is closed; nothing was sent to the client."))
            return
        try:
            if request.status != RequestStatus.ACCEPTED:
                request = request_accept(request=request.pk, operator=operator)
            posted, created = operator_message_post(
                request=request.pk,
                operator=operator,
                text=message.text,
                client_msg_id=f"tg:{message.update_id}",
                attachments=message.attachments or None,
                co_answer=True,
                visible_only=True,  # a co-answer too: only a manager serving the chat
            )
        except HandoffError as refusal:
            _say(bot, topic, _("Not sent: %(reason)s") % {"reason": refusal.detail})
            return
        except Request.DoesNotExist:  # the console would not show it to this manager
            _say(bot, topic, _("Not sent: %(reason)s") % {"reason": _not_served()})
            return
    if created:
        TopicLink.objects.create(
            topic=topic, inbound=False, group_message_id=message.message_id, message=posted
        )


def _album_left_in_group(bot: TelegramBot, message: TopicMessage) -> bool:
    """An album's caption is on its first item: the later items follow what became of
    it, so an internal comment's album (or one not sent) stays in the group whole.
    An item is a later one when an earlier update of the group holds its album."""
    if not message.media_group_id:
        return False
    earlier = list(
        TelegramUpdate.objects.filter(
            bot=bot,
            update_id__lt=message.update_id,
            update_id__gte=message.update_id - 100,  # an album's items come together
            payload__message__chat__id=bot.forum_group_id,
            payload__message__media_group_id=message.media_group_id,
        ).values_list("payload__message__message_id", flat=True)
    )
    if not earlier:
        return False  # the album's first item: judged by itself
    return not TopicLink.objects.filter(
        topic__bot=bot, inbound=False, group_message_id__in=earlier
    ).exists()


def _close(bot: TelegramBot, topic: ClientTopic, request: Request | None, operator) -> None:
    if request is None or request.status not in Request.OPEN_STATUSES:
        _say(bot, topic, _("There is no open conversation in this topic."))
        return
    try:
        # visible_only: a waiting request may be closed by any actor, so ask, as the
        # console does, whether this manager serves the chat
        request_close(
            request=request.pk, reason=CloseReason.OPERATOR, actor=operator, visible_only=True
        )
    except HandoffError as refusal:
        _say(bot, topic, _("Not closed: %(reason)s") % {"reason": refusal.detail})
    except Request.DoesNotExist:
        _say(bot, topic, _("Not closed: %(reason)s") % {"reason": _not_served()})


def _edit_text(message: Message, text: str) -> None:
    Message.objects.filter(pk=message.pk).update(text=text)


@transaction.atomic(savepoint=False)
def topic_message_edited(
    *, bot: TelegramBot, thread_id: int, message_id: int, text: str, user_id: int
) -> None:
    """An operator edited a message of theirs that went to the client: the client's copy
    is edited (or, not sent yet, sent as edited) and the stored message follows. Only
    while they are a connected, active manager serving the chat (as for a new message)."""
    topic = topic_of_thread(bot, thread_id)
    if topic is None or is_internal(bot, text):
        return
    if not OperatorAccount.objects.filter(
        bot=bot, telegram_user_id=user_id, active=True, operator__chats=bot.chat_id
    ).exists():
        return
    link = (
        TopicLink.objects.filter(topic=topic, inbound=False, group_message_id=message_id)
        .select_related("message")
        .first()
    )
    if link is None or link.message is None or not text:
        return
    message = link.message
    _edit_text(message, text)
    labelled = f"{message.author_name}: {text}" if message.author_name else text
    for row in OutboundMessage.objects.select_for_update().filter(
        bot=bot, purpose=SendPurpose.CLIENT, message_id=message.pk
    ):
        field = "text" if row.method == "sendMessage" else "caption"
        if row.status == SendStatus.PENDING:
            row.payload[field] = labelled
            row.save(update_fields=["payload"])
        elif row.status == SendStatus.SENT and row.telegram_message_id:
            outbound_enqueue(
                bot=bot,
                telegram_chat_id=row.telegram_chat_id,
                method="editMessageText" if field == "text" else "editMessageCaption",
                payload={field: labelled, "message_id": row.telegram_message_id},
                purpose=SendPurpose.CLIENT,
            )


@transaction.atomic(savepoint=False)
def client_message_edited(
    *, bot: TelegramBot, chat_id: int, message_id: int, text: str, caption: bool
) -> None:
    """A client edited a message that was copied into their topic: the copy is edited."""
    link = (
        TopicLink.objects.filter(
            topic__bot=bot,
            topic__client__external_id=str(chat_id),
            topic__client__chat_id=bot.chat_id,
            inbound=True,
            client_message_id=message_id,
        )
        .select_related("topic", "message")
        .order_by("-id")
        .first()
    )
    if link is None or not text:
        return
    if link.message is not None:
        _edit_text(link.message, text)
    if link.group_message_id is None:
        return  # not copied yet: the copy will be of the edited message
    field = "caption" if caption else "text"
    topic_enqueue(
        bot=bot,
        topic=link.topic,
        method="editMessageCaption" if caption else "editMessageText",
        payload={field: text, "message_id": link.group_message_id},
    )
