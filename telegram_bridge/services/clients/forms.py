"""Forms in a Telegram dialog, asked one question at a time: the pre-handoff form and
the contact form. Answers are checked by handoff's rules and submitted to handoff's
services, like the widget's."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.models import Dialog
from handoff.services import (
    FormInvalid,
    HandoffError,
    client_contact_submit,
    client_form_submit,
    form_answer_check,
)
from telegram_bridge.models import FormKind, FormProgress, TelegramBot
from telegram_bridge.services.clients.sending import chat_id_of, client_say, client_send
from telegram_bridge.services.outbox import keyboard


def contact_fields(values: dict | None = None) -> list[dict]:
    """The contact form's two questions. `values` is what the visitor typed about
    themselves in the pre-handoff form (the contact_form attachment's "values"): each
    question offers it as a button (`suggestions`), so they need not type it again."""
    values = values or {}
    name = str(values.get("name") or "").strip()
    contacts = [str(values.get(key) or "").strip() for key in ("phone", "email")]
    return [
        {
            "id": "name",
            "label": _("Your name?"),
            "kind": "text",
            "required": False,
            "choices": [],
            "suggestions": [name] if name else [],
        },
        {
            "id": "contact",
            "label": _("Your phone number or e-mail?"),
            "kind": "contact",
            "required": True,
            "choices": [],
            "suggestions": [value for value in contacts if value],
        },
    ]


SUGGESTION_LABEL_MAX = 40


def _ask(bot: TelegramBot, dialog: Dialog, progress: FormProgress, problem: str = "") -> None:
    field = progress.current_field
    total = len(progress.fields)
    with override(dialog.chat.language):
        text = f"({progress.position + 1}/{total}) {field['label']}"
        if problem:
            text = f"{problem}\n{text}"
        rows = [
            [{"text": choice, "callback_data": f"f:{progress.position}:{index}"}]
            for index, choice in enumerate(field.get("choices") or [])
        ]
        suggestions = field.get("suggestions") or []
        if suggestions:
            text += "\n" + _("Tap what you wrote before to use it, or type another answer.")
        rows += [
            [
                {
                    "text": _("Use “%(value)s”") % {"value": _shortened(value)},
                    "callback_data": f"f:{progress.position}:u{index}",
                }
            ]
            for index, value in enumerate(suggestions)
        ]
        if not field.get("required"):
            rows.append([{"text": _("Skip"), "callback_data": f"f:{progress.position}:skip"}])
    payload: dict = {"text": text}
    if rows:
        payload["keyboard"] = keyboard(rows)
    client_send(bot, dialog, payload)


def _shortened(value: str) -> str:
    if len(value) <= SUGGESTION_LABEL_MAX:
        return value
    return value[: SUGGESTION_LABEL_MAX - 1] + "…"


def form_start(bot: TelegramBot, dialog: Dialog, kind: str, fields: list[dict]) -> None:
    progress, _created = FormProgress.objects.update_or_create(
        dialog=dialog, defaults={"kind": kind, "fields": fields, "answers": {}, "position": 0}
    )
    if progress.fields:
        _ask(bot, dialog, progress)


def form_answer(bot: TelegramBot, dialog: Dialog, progress: FormProgress, raw: str) -> None:
    """One answer: checked, stored, then the next question or the form is submitted."""
    field = progress.current_field
    language = dialog.chat.language
    if progress.kind == FormKind.HANDOFF:
        try:
            value = form_answer_check(dialog=dialog, field_id=field["id"], raw=raw)
        except FormInvalid as error:
            _ask(bot, dialog, progress, problem=next(iter(error.errors.values())))
            return
    else:
        value = raw.strip()[:254]
        if field["required"] and not value:
            with override(language):
                _ask(bot, dialog, progress, problem=_("This question needs an answer."))
            return
    progress.answers[str(field["id"])] = value
    progress.position += 1
    if progress.current_field is not None:
        progress.save(update_fields=["answers", "position"])
        _ask(bot, dialog, progress)
        return
    answers = progress.answers
    try:
        with transaction.atomic():
            if progress.kind == FormKind.HANDOFF:
                client_form_submit(dialog=dialog, answers=answers)
            else:
                contact = answers.get("contact", "")
                key = "email" if "@" in contact else "phone"
                client_contact_submit(
                    dialog=dialog, answers={"name": answers.get("name", ""), key: contact}
                )
            progress.delete()
    except HandoffError as refusal:
        if isinstance(refusal, FormInvalid):
            # an answer to fix: the last question again, with the problem
            progress.position -= 1
            progress.save(update_fields=["answers", "position"])
            _ask(bot, dialog, progress, problem=refusal.detail)
            return
        # final (answered already, no form waiting, no person offered): the form is
        # over, and the client's next message is a message again
        progress.delete()
        client_say(bot, chat_id_of(dialog), refusal.detail)
