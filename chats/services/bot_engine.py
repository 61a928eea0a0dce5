"""The bot engine: runs scripts, matches keyword triggers, records markers and
asks handoff for a human at the connect-operator mark. Web and Telegram share it."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AuthorKind, DialogStatus, ScriptKind
from chats.models import Dialog, MarkerHit, Message, Script, StepButton
from chats.normalise import normalise_text
from chats.registries import handoff_entry
from chats.services.messages import message_post


def _button_payload(button: StepButton) -> dict:
    if button.url:
        return {"id": button.pk, "label": button.label, "url": button.url}
    return {"id": button.pk, "label": button.label}


def script_run(*, dialog: Dialog, script: Script) -> list[Message]:
    """Post every step of `script` as bot messages, in order.

    A marker is recorded when its step is reached; the connect-operator mark asks
    the handoff app to open a request and ends the script there.
    """
    posted: list[Message] = []
    with transaction.atomic():
        steps = script.steps.prefetch_related("buttons").order_by("position", "id")
        for step in steps:
            if step.text.strip():
                message, _created = message_post(
                    dialog=dialog,
                    author_kind=AuthorKind.BOT,
                    author_name=dialog.chat.name,
                    text=step.text,
                    buttons=[_button_payload(button) for button in step.buttons.all()],
                )
                posted.append(message)
            if step.marker:
                MarkerHit.objects.create(dialog=dialog, marker=step.marker)
            if step.connect_operator:
                handoff_entry.handler.open_request(dialog=dialog, reason="script")
                break
    return posted


def _chat_script(dialog: Dialog, kind: ScriptKind) -> Script | None:
    return Script.objects.filter(chat_id=dialog.chat_id, kind=kind).first()


def bot_greet(*, dialog: Dialog) -> list[Message]:
    """Run the chat's start script on a new dialog (nothing when it has none)."""
    script = _chat_script(dialog, ScriptKind.START)
    return script_run(dialog=dialog, script=script) if script else []


def script_matching(*, chat_id: int, text: str) -> Script | None:
    """The first script (by name) with a keyword contained in `text`, ignoring case
    and accents and matching whole words."""
    haystack = f" {normalise_text(text)} "
    scripts = Script.objects.filter(chat_id=chat_id).exclude(keywords="").order_by("name")
    for script in scripts:
        for keyword in script.keyword_list:
            needle = normalise_text(keyword)
            if needle and f" {needle} " in haystack:
                return script
    return None


def bot_answer(*, dialog: Dialog, text: str) -> list[Message]:
    """Answer a client's message while the bot has the dialog.

    A matching trigger runs its script; otherwise the fallback answers, except on
    the dialog's first client message when the chat does not reply to it.
    """
    if dialog.status != DialogStatus.BOT:
        return []
    script = script_matching(chat_id=dialog.chat_id, text=text)
    if script is not None:
        return script_run(dialog=dialog, script=script)
    if dialog.client_message_count <= 1 and not dialog.chat.reply_to_first_message:
        return []
    Dialog.objects.filter(pk=dialog.pk).update(fallback_count=F("fallback_count") + 1)
    dialog.fallback_count += 1
    fallback = _chat_script(dialog, ScriptKind.FALLBACK)
    if fallback is not None:
        return script_run(dialog=dialog, script=fallback)
    with override(dialog.chat.language):
        text = _("Sorry, I did not understand. Please choose one of the options.")
    message, _created = message_post(
        dialog=dialog, author_kind=AuthorKind.BOT, author_name=dialog.chat.name, text=text
    )
    return [message]


@dataclass(frozen=True)
class ClientMessageResult:
    """A stored client message and what the bot wrote in answer, in order (nothing
    when the message was a repeat). Consumers send these without reading them back."""

    message: Message
    created: bool
    answers: list[Message] = field(default_factory=list)


class UnknownButton(Exception):
    """The button does not exist in this dialog's chat."""


def bot_button_press(*, dialog: Dialog, button_id: int, client_msg_id: str) -> ClientMessageResult:
    """A client pressed a script button: it is recorded as the client's message (its
    label) and the target script runs. Idempotent on `client_msg_id`."""
    button = (
        StepButton.objects.select_related("target_script")
        .filter(pk=button_id, step__script__chat_id=dialog.chat_id)
        .first()
    )
    if button is None or button.target_script is None:
        raise UnknownButton(button_id)
    with transaction.atomic():
        message, created = message_post(
            dialog=dialog,
            author_kind=AuthorKind.CLIENT,
            text=button.label,
            client_msg_id=client_msg_id,
        )
        answers = []
        if created and dialog.status == DialogStatus.BOT:
            answers = script_run(dialog=dialog, script=button.target_script)
    return ClientMessageResult(message=message, created=created, answers=answers)
