"""The handoff trigger: should this visitor be offered a human now? Decided off the
request path (a Celery task), because a language-model backend may take seconds."""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction

from chats.enums import AuthorKind, DialogStatus, HeadsetMode
from chats.models import Dialog, Message
from chats.services import dialog_headset_reveal
from handoff.classifier import Conversation, Verdict, classifier_from_settings
from handoff.services.handoff_settings import handoff_settings_for

logger = logging.getLogger(__name__)
RECENT_MESSAGES = 10
CHECK_TRIGGER_TASK = "handoff.check_trigger"


def trigger_wanted(dialog: Dialog) -> bool:
    return (
        dialog.chat.headset_mode == HeadsetMode.TRIGGER
        and dialog.status == DialogStatus.BOT
        and not dialog.headset_revealed
    )


def trigger_schedule(*, dialog: Dialog) -> None:
    """After the client's message commits, ask the classifier in the background."""
    if not trigger_wanted(dialog):
        return
    dialog_id = dialog.pk
    # by the task's explicit name: handoff.tasks imports the services, not the reverse;
    # robust: a broker that is away must not fail the message, committed by then
    transaction.on_commit(
        lambda: current_app.send_task(CHECK_TRIGGER_TASK, args=(dialog_id,)), robust=True
    )


def trigger_check(*, dialog_id: int) -> Verdict | None:
    """Classify the conversation; reveal the headset when a human should be offered.
    Idempotent: a revealed headset stays revealed and is not announced twice."""
    dialog = Dialog.objects.select_related("chat").filter(pk=dialog_id).first()
    if dialog is None or not trigger_wanted(dialog):
        return None
    texts = list(
        Message.objects.filter(dialog=dialog, author_kind=AuthorKind.CLIENT)
        .order_by("-sequence")
        .values_list("text", flat=True)[:RECENT_MESSAGES]
    )
    verdict = classifier_from_settings().classify(
        Conversation(
            prompt=handoff_settings_for(dialog.chat_id).trigger_prompt,
            client_texts=list(reversed(texts)),
            fallback_count=dialog.fallback_count,
            language=dialog.chat.language,
        )
    )
    logger.info("trigger for dialog %s: %s (%s)", dialog_id, verdict.offer_human, verdict.reason)
    if verdict.offer_human:
        dialog_headset_reveal(dialog=dialog)
    return verdict
