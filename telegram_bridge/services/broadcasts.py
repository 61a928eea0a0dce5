"""Broadcasts: a message sent to a segment of a bot's Telegram clients, through the
outbox (its sending, its 30/s per bot and 1/s per chat pacing, its 429 handling).

- `broadcast_start` turns the segment into BroadcastRecipient rows once.
- `broadcast_feed` (a Celery task, run again whenever the outbox records a broadcast
  result and by the periodic sweep) hands the next pending recipients to the outbox, a
  window at a time, so a large broadcast never holds up the bot's other messages for
  more than a few seconds. A recipient gets at most one outbox row: it is written in the
  transaction that marks the recipient queued, so a worker killed mid-way loses both or
  keeps both, and a re-run hands on only recipients still pending.
- The outbox marks a recipient `sending` (committed) just before its Bot API call and
  records the result after it; an answer that says it was not delivered (a 429, no
  connection made) puts it back in the queue at once. So one found `sending` again had
  its call started and no answer recorded (a killed worker, a lost answer): it may have
  arrived, and is failed, never sent a second time (Telegram has no idempotency key).
- `broadcast_cancel` stops it: waiting recipients are skipped, nothing more is sent.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telegram_bridge.models import (
    Broadcast,
    BroadcastRecipient,
    BroadcastStatus,
    OutboundMessage,
    RecipientStatus,
    SendPurpose,
    SendStatus,
    TelegramChat,
)
from telegram_bridge.selectors import broadcast_segment
from telegram_bridge.services.outbox import outbound_enqueue
from telegram_bridge.services.scheduling import broadcast_feed_schedule

# recipients in the outbox at a time (about 4 s of sending at 30/s): enough to keep the
# sender busy, little enough that a client's reply written meanwhile waits no longer
FEED_AHEAD = 120

WAITING = (RecipientStatus.PENDING, RecipientStatus.QUEUED)


class BroadcastRefused(Exception):
    """The broadcast cannot be started; the message says why (shown to the admin)."""


def broadcast_payload(broadcast: Broadcast) -> tuple[str, dict]:
    """The outbox method and payload of a broadcast's message: a photo with the text as
    its caption, or a text message; URL buttons under it."""
    keyboard = {"keyboard": broadcast.buttons} if broadcast.buttons else {}
    if broadcast.photo:
        return "sendPhoto", {"photo": broadcast.photo, "caption": broadcast.text, **keyboard}
    return "sendMessage", {"text": broadcast.text, **keyboard}


def broadcast_start(*, broadcast: Broadcast) -> int:
    """Materialise the segment's recipients and start sending; returns the number of
    recipients. Idempotent: only a draft starts, and a broadcast already started returns
    its count unchanged. Raises BroadcastRefused (nothing changed) for an invalid
    broadcast or an empty segment. Schedules the first feed after commit."""
    with transaction.atomic():
        # the broadcast row only: the bot's row is the outbox's lease, never held here
        locked = (
            Broadcast.objects.select_for_update(of=("self",))
            .select_related("bot")
            .get(pk=broadcast.pk)
        )
        if locked.status != BroadcastStatus.DRAFT:
            return locked.recipients_total
        try:
            locked.full_clean()
        except ValidationError as error:
            raise BroadcastRefused(" ".join(error.messages)) from None
        segment = broadcast_segment(broadcast=locked).order_by("pk")
        clients = segment.values_list("pk", "external_id")
        BroadcastRecipient.objects.bulk_create(
            [
                BroadcastRecipient(
                    broadcast=locked, client_id=client_id, telegram_chat_id=int(external_id)
                )
                for client_id, external_id in clients.iterator(chunk_size=2000)
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        total = BroadcastRecipient.objects.filter(broadcast=locked).count()
        if not total:
            raise BroadcastRefused(_("No client is in this segment: nothing to send."))
        now = timezone.now()
        Broadcast.objects.filter(pk=locked.pk).update(
            status=BroadcastStatus.SENDING, recipients_total=total, started_at=now
        )
        transaction.on_commit(lambda: broadcast_feed_schedule(broadcast_id=locked.pk), robust=True)
    broadcast.status, broadcast.recipients_total, broadcast.started_at = (
        BroadcastStatus.SENDING,
        total,
        now,
    )
    return total


def broadcast_feed(*, broadcast_id: int) -> int:
    """Hand the next pending recipients to the outbox, keeping at most FEED_AHEAD in it;
    returns how many were handed on. Recipients who blocked the bot since the start are
    recorded as blocked and not sent. The broadcast is done when no recipient waits.
    Safe to run any number of times, concurrently too: the broadcast row is locked and
    pending recipients are claimed with skip_locked; a rolled-back run changes nothing."""
    with transaction.atomic():
        broadcast = (
            Broadcast.objects.select_for_update(of=("self",))
            .select_related("bot")
            .filter(pk=broadcast_id)
        ).first()
        if broadcast is None or broadcast.status != BroadcastStatus.SENDING:
            return 0
        recipients = BroadcastRecipient.objects.filter(broadcast=broadcast)
        in_outbox = recipients.filter(
            status__in=[RecipientStatus.QUEUED, RecipientStatus.SENDING]
        ).count()
        # the window is the bot's: its broadcasts share it, so a client's reply waits
        # behind FEED_AHEAD rows however many broadcasts the bot is sending
        room = FEED_AHEAD - (
            BroadcastRecipient.objects.filter(
                broadcast__bot_id=broadcast.bot_id,
                broadcast__status=BroadcastStatus.SENDING,
                status__in=[RecipientStatus.QUEUED, RecipientStatus.SENDING],
            ).count()
        )
        claimed = (
            list(
                recipients.select_for_update(skip_locked=True)
                .filter(status=RecipientStatus.PENDING)
                .order_by("id")[:room]
            )
            if room > 0
            else []
        )
        blocked = set(
            TelegramChat.objects.filter(
                bot_id=broadcast.bot_id,
                blocked_at__isnull=False,
                telegram_chat_id__in=[recipient.telegram_chat_id for recipient in claimed],
            ).values_list("telegram_chat_id", flat=True)
        )
        method, payload = broadcast_payload(broadcast)
        handed = 0
        for recipient in claimed:
            if recipient.telegram_chat_id in blocked:
                recipient.status = RecipientStatus.BLOCKED
                recipient.error = "the user blocked the bot"
                continue
            recipient.outbound = outbound_enqueue(
                bot=broadcast.bot_id,
                telegram_chat_id=recipient.telegram_chat_id,
                method=method,
                payload=dict(payload),
                purpose=SendPurpose.BROADCAST,
            )
            recipient.status = RecipientStatus.QUEUED
            handed += 1
        BroadcastRecipient.objects.bulk_update(claimed, ["status", "outbound", "error"])
        if in_outbox == 0 and handed == 0:
            if not recipients.filter(status=RecipientStatus.PENDING).exists():
                Broadcast.objects.filter(pk=broadcast.pk).update(
                    status=BroadcastStatus.DONE, finished_at=timezone.now()
                )
            elif claimed:  # every claimed one was blocked: go on at once
                # (none claimed: another broadcast fills the bot's window; the outbox
                # feeds this one again as it records that one's rows)
                transaction.on_commit(
                    lambda: broadcast_feed_schedule(broadcast_id=broadcast_id), robust=True
                )
    return handed


def broadcast_cancel(*, broadcast: Broadcast) -> int:
    """Stop a draft or a sending broadcast; returns the number of recipients skipped.
    Recipients waiting (not yet handed on, or in the outbox) are skipped and their outbox
    rows with them; one whose Bot API call is under way finishes. Idempotent: a finished
    or cancelled broadcast is left as it is."""
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.status not in (BroadcastStatus.DRAFT, BroadcastStatus.SENDING):
            return 0
        waiting = BroadcastRecipient.objects.filter(broadcast=locked, status__in=WAITING)
        OutboundMessage.objects.filter(
            pk__in=waiting.exclude(outbound=None).values("outbound_id"),
            status=SendStatus.PENDING,
        ).update(status=SendStatus.SKIPPED, error="broadcast cancelled")
        skipped = waiting.update(status=RecipientStatus.SKIPPED, error="broadcast cancelled")
        now = timezone.now()
        Broadcast.objects.filter(pk=locked.pk).update(
            status=BroadcastStatus.CANCELLED, finished_at=now
        )
    broadcast.status, broadcast.finished_at = BroadcastStatus.CANCELLED, now
    return skipped


def broadcasts_unfinished() -> list[int]:
    """Broadcasts still sending (the sweep feeds them again: a lost task or a restarted
    worker leaves nothing stranded)."""
    return list(
        Broadcast.objects.filter(status=BroadcastStatus.SENDING).values_list("pk", flat=True)
    )
