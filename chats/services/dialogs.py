"""Starting dialogs and recording what the client does besides writing."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Chat, Client, Dialog, PageVisit
from chats.realtime import dialog_status_publish
from chats.registries import handoff_entry
from chats.services.bot_engine import ClientMessageResult, bot_answer, bot_greet
from chats.services.messages import dialog_close, message_post
from chats.validators import http_url_validator, validate_encodable

PAGE_VISIT_MAX_AGE = timedelta(days=1)
IDLE_CLOSE_BATCH = 500


def client_get_or_create(
    *, chat: Chat, messenger: Messenger, external_id: str, name: str = ""
) -> Client:
    """The client of this channel identity, created on first sight. Raises
    ValidationError for an identity or name no surface could encode."""
    validate_encodable([external_id, name])
    try:
        with transaction.atomic():
            client, _created = Client.objects.get_or_create(
                chat=chat,
                messenger=messenger,
                external_id=external_id,
                defaults={"name": name},
            )
    except IntegrityError:  # created concurrently by another connection
        client = Client.objects.get(chat=chat, messenger=messenger, external_id=external_id)
    return client


def dialog_start_or_resume(
    *, chat: Chat, messenger: Messenger, external_id: str, name: str = ""
) -> tuple[Dialog, bool]:
    """The client's open dialog in this chat, or a new one greeted by the start script.

    Safe when two connections of the same client arrive at once: the client row is
    locked, and at most one open dialog per client is a database constraint. The
    dialog comes with its chat and its client.
    """
    validate_encodable([external_id, name])
    with transaction.atomic():
        # a known client is found and locked in one statement, and is the dialog's
        # client (nothing reads it again); a new one is created, then locked
        identity = {"chat": chat, "messenger": messenger, "external_id": external_id}
        client = Client.objects.select_for_update().filter(**identity).first()
        if client is None:
            client = client_get_or_create(**identity, name=name)
            client = Client.objects.select_for_update().get(pk=client.pk)
        dialog = (
            Dialog.objects.select_related("chat")
            .filter(client=client)
            .exclude(status=DialogStatus.CLOSED)
            .first()
        )
        if dialog is not None:
            dialog.client = client
            return dialog, False
        dialog = Dialog.objects.create(chat=chat, client=client, messenger=messenger)
        dialog.chat = chat
        if _scripts_answer(dialog):
            bot_greet(dialog=dialog)
    return dialog, True


def dialog_receive_client_message(
    *, dialog: Dialog, text: str, client_msg_id: str, attachments: list[dict] | None = None
) -> ClientMessageResult:
    """Store a client's message and let the bot answer it, in one transaction.

    Idempotent: a repeated `client_msg_id` returns the stored message and the bot
    does not answer twice.
    """
    with transaction.atomic():
        message, created = message_post(
            dialog=dialog,
            author_kind=AuthorKind.CLIENT,
            text=text,
            attachments=attachments,
            client_msg_id=client_msg_id,
        )
        answers = (
            bot_answer(dialog=dialog, text=text) if created and _scripts_answer(dialog) else []
        )
        if created and handoff_entry.installed:
            handoff_entry.handler.client_wrote(dialog=dialog, message=message)
    return ClientMessageResult(message=message, created=created, answers=answers)


def _scripts_answer(dialog: Dialog) -> bool:
    """Whether the chat's own scripts answer this dialog (not when its channel is
    routed to managers or to an API bot)."""
    return not handoff_entry.installed or handoff_entry.handler.scripts_answer(dialog=dialog)


def page_visit_record(
    *, dialog: Dialog, url: str, title: str = "", visited_at: datetime | None = None
) -> PageVisit:
    """Record a host-site page the visitor opened. A time from the browser is kept
    when it is plausible (not in the future, not older than a day)."""
    validate_encodable(url)
    validate_encodable(title)
    http_url_validator(url)
    if len(url) > 2000:
        raise ValidationError(_("The page address is too long."), code="url_too_long")
    now = timezone.now()
    if visited_at is None or visited_at > now or visited_at < now - PAGE_VISIT_MAX_AGE:
        visited_at = now
    return PageVisit.objects.create(
        dialog=dialog, url=url, title=title[:300], visited_at=visited_at
    )


def client_rename(*, client: Client, name: str) -> Client:
    """Name the client as they told us (a form's answer). Blank names change nothing."""
    name = name.strip()[:200]
    validate_encodable(name)
    if name and name != client.name:
        Client.objects.filter(pk=client.pk).update(name=name)
        client.name = name
    return client


def dialog_end_by_client(*, dialog: Dialog) -> bool:
    """The client ended a dialog the bot has: it closes with a notice, and their next
    message starts a new one. Returns False when an open request holds the dialog."""
    with override(dialog.chat.language):
        notice = _("The chat has ended.")
    return dialog_close(dialog=dialog, notice=notice)


def dialog_idle_filter(*, cutoff: datetime) -> Q:
    """Open dialogs the bot has with no message since `cutoff` (or, without messages,
    started before it). Written as an OR of plain comparisons, not Coalesce, so the
    partial index dialog_bot_idle serves it."""
    return Q(status=DialogStatus.BOT) & (
        Q(last_message_at__lt=cutoff) | Q(last_message_at__isnull=True, started_at__lt=cutoff)
    )


def dialogs_close_idle(*, now: datetime | None = None) -> int:
    """Close the dialogs the bot has (no open request) with no message for
    BATON_DIALOG_IDLE_CLOSE_HOURS; return how many closed.

    What dialog_close records for each, without a notice (the visitor is gone): status
    closed, closed_at, and the new status published to the dialog's watchers after
    commit. Done in batches of IDLE_CLOSE_BATCH, each one locking query and one UPDATE,
    until none is left. Rows another transaction holds (a message being written, a
    request opening) are skipped until the next sweep; running it twice, or two at once,
    closes nothing twice."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.BATON_DIALOG_IDLE_CLOSE_HOURS)
    closed = 0
    while True:
        with transaction.atomic():
            batch = list(
                Dialog.objects.select_for_update(skip_locked=True)
                .filter(dialog_idle_filter(cutoff=cutoff))
                .order_by()
                .only("pk", "last_sequence")[:IDLE_CLOSE_BATCH]
            )
            if not batch:
                return closed
            Dialog.objects.filter(pk__in=[dialog.pk for dialog in batch]).update(
                status=DialogStatus.CLOSED, closed_at=now
            )
            for dialog in batch:
                dialog.status = DialogStatus.CLOSED
                dialog_status_publish(dialog=dialog)
        closed += len(batch)
        if len(batch) < IDLE_CLOSE_BATCH:
            return closed
