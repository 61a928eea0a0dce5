"""The pre-handoff form and the contact (lead) form: validated, stored, then acted on."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.models import Dialog
from chats.normalise import normalise_phone
from chats.services import customer_bind
from handoff.enums import FormFieldKind
from handoff.models import DialogFormAnswers, FormField, Request
from handoff.services.errors import FormInvalid
from handoff.services.requests import handoff_settings_for, request_open

MAX_ANSWER = 500


def _clean_answer(field: FormField, raw: object) -> str:
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        if field.required:
            raise ValueError(_("This question needs an answer."))
        return ""
    if len(value) > MAX_ANSWER:
        raise ValueError(_("At most %(count)d characters.") % {"count": MAX_ANSWER})
    if field.kind == FormFieldKind.EMAIL:
        try:
            validate_email(value)
        except ValidationError:
            raise ValueError(_("Enter a valid e-mail address.")) from None
        return value.lower()
    if field.kind == FormFieldKind.PHONE:
        return normalise_phone(value)
    if field.kind == FormFieldKind.CHOICE and value not in field.choice_list:
        raise ValueError(_("Choose one of the options."))
    return value


def form_answer_check(*, dialog: Dialog, field_id: int, raw: str) -> str:
    """Check one answer of the pre-handoff form (surfaces that ask question by question,
    like Telegram). Returns the cleaned value; raises FormInvalid with the reason."""
    field = FormField.objects.filter(pk=field_id, settings__chat_id=dialog.chat_id).first()
    if field is None:
        raise FormInvalid({"form": "no such question in this chat"})
    with override(dialog.chat.language):
        try:
            return _clean_answer(field, raw)
        except ValueError as error:
            raise FormInvalid({str(field_id): str(error)}) from None


def handoff_form_submit(*, dialog: Dialog, answers: dict) -> Request | None:
    """Validate the pre-handoff form, store it (once per dialog) and open the request.
    Raises FormInvalid with a message per field; nothing is stored then."""
    settings = handoff_settings_for(dialog.chat_id)
    fields = list(settings.form_fields.all())
    if not isinstance(answers, dict):
        raise FormInvalid({"form": "answers must be an object"})
    errors: dict[str, str] = {}
    cleaned: list[dict] = []
    with override(dialog.chat.language):
        for field in fields:
            try:
                value = _clean_answer(field, answers.get(str(field.pk)))
            except ValueError as error:
                errors[str(field.pk)] = str(error)
                continue
            cleaned.append({"label": field.label, "value": value})
    if errors:
        raise FormInvalid(errors)
    with transaction.atomic():
        DialogFormAnswers.objects.get_or_create(dialog=dialog, defaults={"answers": cleaned})
        return request_open(dialog=dialog, reason="headset")


def contact_form_submit(*, dialog: Dialog, answers: dict) -> None:
    """Lead capture after nobody accepted: the contact details become a Customer bound
    to the client, and the visitor is thanked."""
    from chats.enums import AuthorKind
    from chats.services import message_post

    if not isinstance(answers, dict):
        raise FormInvalid({"form": "answers must be an object"})
    with override(dialog.chat.language):
        try:
            customer_bind(
                client=dialog.client,
                name=str(answers.get("name", ""))[:200],
                phone=str(answers.get("phone", ""))[:40],
                email=str(answers.get("email", ""))[:254],
            )
        except ValidationError as error:
            raise FormInvalid({"contact": " ".join(error.messages)}) from None
        message_post(
            dialog=dialog,
            author_kind=AuthorKind.SYSTEM,
            text=_("Thank you! We will get back to you soon."),
        )
