"""A client's topic follows their requests: made (by the sender) when a request opens,
its pinned card edited as the request changes, closed when the request ends and
reopened when the next one opens. The client's messages are copied into it."""

from __future__ import annotations

import re
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AttachmentKind, Messenger
from chats.models import Client, Dialog, MarkerHit, Message
from distributor.models import CustomerBinding
from handoff.enums import RequestStatus
from handoff.models import Request
from telegram_bridge.models import (
    ClientTopic,
    TelegramBot,
    TopicLink,
)
from telegram_bridge.services.group.copying import topic_enqueue
from telegram_bridge.services.outbox import album_row_waiting, album_wait

TOPIC_NAME_LIMIT = 128  # Telegram's, in UTF-16 code units
ENDED = (RequestStatus.CLOSED, RequestStatus.EXPIRED)


@dataclass(frozen=True)
class InboundTelegramMessage:
    """The Telegram message whose update is being handled (set by the router), so a
    surface can copy it instead of retelling it."""

    chat_id: int
    message_id: int
    media_group_id: str | None = None


telegram_message_at_work: ContextVar[InboundTelegramMessage | None] = ContextVar(
    "telegram_message_at_work", default=None
)


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def topic_name(client: Client) -> str:
    """ "<name> · <channel>", at most 128 UTF-16 units, cut on a character boundary
    (no half of an emoji, no combining mark or joiner left dangling)."""
    label = client.name.strip() or f"{client.messenger} {client.external_id[:12]}"
    label = re.sub(r"\s+", " ", label)
    suffix = f" · {client.get_messenger_display()}"
    room = TOPIC_NAME_LIMIT - _utf16_length(suffix)
    if _utf16_length(label) > room:
        while label and _utf16_length(label) > room - 1:
            label = label[:-1]
        while label and (unicodedata.combining(label[-1]) or label[-1] in "\u200d\ufe0f\ufe0e"):
            label = label[:-1]
        label = label.rstrip() + "…"
    return label + suffix


def _status_line(request: Request) -> str:
    if request.status == RequestStatus.ACCEPTED and request.operator_id:
        return _("Status: with %(operator)s") % {"operator": request.operator.display_name}
    if request.status in ENDED:
        return _("Status: closed")
    return _("Status: waiting for an operator")


def card_text(request: Request, client: Client) -> str:
    """The pinned card: who the client is, the request's state, the dialog's markers and
    form answers, and a link to the dialog."""
    dialog = request.dialog
    lines = [topic_name(client), _status_line(request)]
    binding = CustomerBinding.objects.filter(client=client).select_related("customer").first()
    if binding is not None:
        customer = binding.customer
        known = [part for part in (customer.name, customer.phone, customer.email) if part]
        lines.append(_("Customer: %(customer)s") % {"customer": " · ".join(known)})
    markers = list(
        MarkerHit.objects.filter(dialog=dialog)
        .order_by("marker")
        .values_list("marker", flat=True)
        .distinct()[:20]
    )
    if markers:
        lines.append(_("Markers: %(markers)s") % {"markers": ", ".join(markers)})
    for answer in request.form_answers or []:
        if isinstance(answer, dict):
            lines.append(f"• {answer.get('label', '')}: {answer.get('value') or '—'}")
    link = reverse("reports:dialog_detail", args=[dialog.session_id])
    lines.append(_("Dialog: %(link)s") % {"link": f"{settings.BATON_PUBLIC_URL}{link}"})
    return "\n".join(lines)[:4096]


def _topic_for_update(bot: TelegramBot, client: Client, *, create: bool) -> ClientTopic | None:
    """The client's topic, locked (after the request: handoff's lock order); made when
    asked to. A group id changed in Admin means a topic in the new group."""
    topic = ClientTopic.objects.select_for_update().filter(bot=bot, client=client).first()
    if topic is None:
        if not create:
            return None
        try:
            with transaction.atomic():
                topic = ClientTopic.objects.create(
                    bot=bot, client=client, group_id=bot.forum_group_id, name=topic_name(client)
                )
        except IntegrityError:  # made meanwhile by a concurrent message of this client
            topic = ClientTopic.objects.select_for_update().get(bot=bot, client=client)
    if topic.group_id != bot.forum_group_id:
        topic.group_id = bot.forum_group_id
        topic.message_thread_id = None
        topic.card_message_id = None
        topic.closed_at = None
        topic.save(update_fields=["group_id", "message_thread_id", "card_message_id", "closed_at"])
    return topic


def topic_card_refresh(bot: TelegramBot, topic: ClientTopic, request: Request) -> None:
    with override(request.chat.language):
        text = card_text(request, topic.client)
    if text != topic.card_text:
        topic.card_text = text
        topic.save(update_fields=["card_text"])
        topic_enqueue(bot=bot, topic=topic, method="topicCard", payload={"text": text})


def topic_request_changed(*, bot: TelegramBot, request: Request) -> None:
    """Inside the transaction of the request's change (its lock held)."""
    client = request.dialog.client
    opened = request.status in Request.OPEN_STATUSES
    topic = _topic_for_update(bot, client, create=opened)
    if topic is None:
        return
    topic.client = client
    if opened and topic.request_id != request.pk:
        if bot.keywords_required and topic.activated_at is None:
            return  # the group sees this client once they said a keyword
        topic.request = request
        fields = ["request"]
        if topic.closed_at is not None:
            topic.closed_at = None
            fields.append("closed_at")
            topic_enqueue(bot=bot, topic=topic, method="reopenForumTopic", payload={})
        topic.save(update_fields=fields)
    if topic.request_id != request.pk:
        return  # an older request of this client
    name = topic_name(client)
    if name != topic.name:  # the client changed their name in Telegram
        topic.name = name
        topic.save(update_fields=["name"])
        topic_enqueue(bot=bot, topic=topic, method="editForumTopic", payload={"name": name})
    topic_card_refresh(bot, topic, request)
    if request.status in ENDED and topic.closed_at is None:
        topic.closed_at = timezone.now()
        topic.activated_at = None
        topic.save(update_fields=["closed_at", "activated_at"])
        topic_enqueue(bot=bot, topic=topic, method="closeForumTopic", payload={})


def keyword_said(bot: TelegramBot, text: str, command: str | None) -> bool:
    """Whether the client's message holds one of the bot's keywords: a word or phrase
    anywhere, whole and case-insensitive; one starting with / as that command."""
    folded = text.casefold()
    for keyword in bot.activation_keywords.split(","):
        keyword = keyword.strip().casefold()
        if not keyword:
            continue
        if keyword.startswith("/"):
            if command is not None and command.casefold() == keyword[1:]:
                return True
        elif re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", folded):
            return True
    return False


def topic_activate(*, bot: TelegramBot, client: Client) -> None:
    """The client said a keyword: the group sees them from now until the request ends
    (a request already open is shown at once)."""
    # handoff's lock order: the open request's dialog, then the request, then the topic
    # (locking the topic first deadlocked with an accept of that request meanwhile)
    request = None
    opened = (
        Request.objects.filter(dialog__client=client, status__in=Request.OPEN_STATUSES)
        .order_by("-id")
        .values_list("pk", "dialog_id")
        .first()
    )
    if opened is not None:
        list(Dialog.objects.select_for_update().filter(pk=opened[1]).values_list("pk"))
        request = (
            Request.objects.select_for_update(of=("self",))
            .filter(pk=opened[0], status__in=Request.OPEN_STATUSES)
            .select_related("dialog__client", "chat", "operator")
            .first()
        )
    topic = _topic_for_update(bot, client, create=True)
    if topic.activated_at is not None:
        return
    topic.activated_at = timezone.now()
    topic.save(update_fields=["activated_at"])
    if request is not None:
        topic_request_changed(bot=bot, request=request)


def _album_join(topic: ClientTopic, at_work: InboundTelegramMessage, link: TopicLink) -> bool:
    """Add an album's item to the copy of its first item while that still waits."""
    row = album_row_waiting(
        bot_id=topic.bot_id,
        telegram_chat_id=topic.group_id,
        method="copyMessages",
        media_group=at_work.media_group_id,
        topic=topic.pk,
    )
    if row is None or len(row.payload["message_ids"]) >= 10:
        return False
    row.payload["message_ids"].append(at_work.message_id)
    row.payload["links"].append(link.pk)
    row.save(update_fields=["payload"])
    return True


def topic_client_message(*, bot: TelegramBot, request: Request, message: Message) -> None:
    """A client's message in an open request goes to their topic: copied from their
    Telegram chat (photos, voice, stickers and albums as they are), or retold for a
    client of another channel."""
    topic = (
        ClientTopic.objects.filter(bot=bot, client_id=request.dialog.client_id, request=request)
        .select_related("client")
        .first()
    )
    if topic is None:
        return
    if topic.group_id != bot.forum_group_id:
        # the bridge moved to another group meanwhile: the topic is made there (with its
        # card) by this message's copy, rather than the conversation missing from it
        topic_request_changed(bot=bot, request=request)
        topic = ClientTopic.objects.select_related("client").get(pk=topic.pk)
    at_work = telegram_message_at_work.get()
    client = topic.client
    if (
        at_work is not None
        and client.messenger == Messenger.TELEGRAM
        and client.external_id == str(at_work.chat_id)
    ):
        link = TopicLink.objects.create(
            topic=topic, inbound=True, client_message_id=at_work.message_id, message=message
        )
        if at_work.media_group_id and _album_join(topic, at_work, link):
            return
        payload = {
            "from_chat_id": at_work.chat_id,
            "message_ids": [at_work.message_id],
            "links": [link.pk],
        }
        if at_work.media_group_id:
            payload["media_group"] = at_work.media_group_id
        row = topic_enqueue(
            bot=bot,
            topic=topic,
            method="copyMessages",
            payload=payload,
            request_id=request.pk,
            message_id=message.pk,
        )
        if at_work.media_group_id:
            album_wait(row)
        return
    link = TopicLink.objects.create(topic=topic, inbound=True, message=message)
    lines = [f"{client.name or _('Client')}: {message.text}"]
    for item in message.attachments:
        if item.get("kind") in (AttachmentKind.PHOTO, AttachmentKind.DOCUMENT) and item.get("url"):
            lines.append(f"{settings.BATON_PUBLIC_URL}{item['url']}")
    topic_enqueue(
        bot=bot,
        topic=topic,
        method="sendMessage",
        payload={"text": "\n".join(lines), "links": [link.pk]},
    )
