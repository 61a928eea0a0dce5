"""The pre-handoff form and the contact (lead) form: validated, stored, then acted on.

A form is answered only when it was offered (a system message carrying it) and not
answered yet; the answers are stored as the client's message (attachment
`form_answers`) so every surface shows them in the history."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AuthorKind
from chats.models import Dialog, Message
from chats.services import client_rename, dialog_lock, message_post
from chats.validators import text_has_lone_surrogate, value_has_nul
from distributor.contacts import normalise_email, normalise_phone
from distributor.services import chat_distribution_for, customer_bind
from handoff.enums import FormFieldKind, RequestReason
from handoff.models import DialogFormAnswers, FormField, Request
from handoff.services.errors import FormInvalid, FormNotExpected
from handoff.services.handoff_settings import handoff_settings_for
from handoff.services.opening import request_open, request_reason_check

MAX_ANSWER = 500
HANDOFF_FORM = "handoff_form"
CONTACT_FORM = "contact_form"


def _clean_answer(field: FormField, raw: object) -> str:
    value = raw.strip() if isinstance(raw, str) else ""
    if text_has_lone_surrogate(value) or value_has_nul(value):
        raise ValueError(_("The answer contains characters that cannot be encoded."))
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
        # a number without a country code is read in the chat's phone region
        return normalise_phone(value, chat_distribution_for(field.settings.chat_id).phone_region)
    if field.kind == FormFieldKind.CHOICE and value not in field.choice_list:
        raise ValueError(_("Choose one of the options."))
    return value


def form_answer_check(*, dialog: Dialog, field_id: int, raw: str) -> str:
    """Check one answer of the pre-handoff form (surfaces that ask question by question,
    like Telegram). Returns the cleaned value; raises FormInvalid with the reason, its
    message naming the question."""
    field = FormField.objects.filter(pk=field_id, settings__chat_id=dialog.chat_id).first()
    with override(dialog.chat.language):
        if field is None:
            raise FormInvalid({"form": _("This question is not in this chat's form.")})
        try:
            return _clean_answer(field, raw)
        except ValueError as error:
            key = str(field_id)
            raise FormInvalid({key: str(error)}, labels={key: field.label}) from None


def _offer(dialog: Dialog, form: str) -> Message | None:
    """The latest offer of `form` in the dialog (only the system offers forms)."""
    return (
        Message.objects.filter(
            dialog=dialog, author_kind=AuthorKind.SYSTEM, attachments__0__kind=form
        )
        .order_by("-sequence")
        .first()
    )


def _answers_message(dialog: Dialog, form: str, answers: list[dict]) -> Message:
    """The client's answers as their message: the console and Telegram show it in the
    history, the widget draws the answered form from it. Neither the bot nor the
    trigger sees it (it does not go through dialog_receive_client_message)."""
    # a blank (optional) answer is left out: no surface shows "Topic:" with nothing after
    given = [item for item in answers if item["value"]]
    text = "\n".join(f"{item['label']}: {item['value']}" for item in given)
    message, _created = message_post(
        dialog=dialog,
        author_kind=AuthorKind.CLIENT,
        text=text or "—",
        attachments=[{"kind": "form_answers", "of": form, "answers": given}],
    )
    return message


def _contact_of(fields: list[FormField], values: list[str]) -> dict[str, str]:
    """What the answers say about who the visitor is: the first answer of a name,
    e-mail and phone question."""
    contact = {"name": "", "phone": "", "email": ""}
    roles = {FormFieldKind.NAME: "name", FormFieldKind.EMAIL: "email", FormFieldKind.PHONE: "phone"}
    for field, value in zip(fields, values, strict=True):
        role = roles.get(field.kind)
        if role and value and not contact[role]:
            contact[role] = value
    return contact


def handoff_form_submit(*, dialog: Dialog, answers: dict) -> Request | None:
    """Answer the offered pre-handoff form and open the request for the reason the
    form was offered for (the mark, the headset, ...).

    Refused (nothing stored) when no form was offered (`no_form`), when it was
    answered already or a request is open (`already_answered`), when the chat does
    not offer a person for that reason (`handoff_unavailable`), or with a message
    per question (FormInvalid). The answers become the client's message; a name, an
    e-mail or a phone among them names the client and binds them to a Customer."""
    if not isinstance(answers, dict):
        raise FormInvalid({"form": _("The form's answers could not be read.")})
    with transaction.atomic():
        # the chat and the client are read afresh with the locked row, so every rule
        # is checked against the chat's current settings (not the caller's old copy)
        locked = dialog_lock(dialog=dialog)
        with override(locked.chat.language):
            offer = _offer(locked, HANDOFF_FORM)
            if offer is None:
                raise FormNotExpected("no_form", _("No form was offered in this chat."))
            answered = (
                DialogFormAnswers.objects.filter(dialog=locked).exists()
                or Request.objects.filter(dialog=locked, status__in=Request.OPEN_STATUSES).exists()
            )
            if answered:
                raise FormNotExpected("already_answered", _("This form has been answered."))
            reason = offer.attachments[0].get("reason") or RequestReason.HEADSET
            request_reason_check(dialog=locked, reason=reason)
            fields = list(handoff_settings_for(locked.chat_id).form_fields.all())
            errors: dict[str, str] = {}
            labels: dict[str, str] = {}
            values: list[str] = []
            for field in fields:
                key = str(field.pk)
                try:
                    values.append(_clean_answer(field, answers.get(key)))
                except ValueError as error:
                    errors[key] = str(error)
                    labels[key] = field.label
                    values.append("")
            if errors:
                raise FormInvalid(errors, labels=labels)
            cleaned = [
                {"label": field.label, "value": value}
                for field, value in zip(fields, values, strict=True)
                if value
            ]
            contact = _contact_of(fields, values)
            DialogFormAnswers.objects.create(dialog=locked, answers=cleaned, contact=contact)
            # named first, so the answers (the client's message) already carry the name
            client_rename(client=locked.client, name=contact["name"])
            _answers_message(locked, HANDOFF_FORM, cleaned)
            if contact["phone"] or contact["email"]:
                try:
                    customer_bind(client=locked.client, **contact)
                except ValidationError as error:
                    raise FormInvalid({"form": " ".join(error.messages)}) from None
        request = request_open(dialog=locked, reason=reason)
    dialog.status = locked.status
    dialog.last_sequence = locked.last_sequence
    return request


def contact_form_submit(*, dialog: Dialog, answers: dict) -> None:
    """Lead capture after nobody accepted: only while a contact form offered to this
    dialog is unanswered (else FormNotExpected `no_contact_form`, nothing stored). The
    details become a Customer bound to the client, the answers the client's message,
    and the visitor is thanked."""
    if not isinstance(answers, dict):
        raise FormInvalid({"form": _("The form's answers could not be read.")})
    with transaction.atomic():
        # the chat and the client are read afresh with the locked row, so every rule
        # is checked against the chat's current settings (not the caller's old copy)
        locked = dialog_lock(dialog=dialog)
        with override(locked.chat.language):
            offer = _offer(locked, CONTACT_FORM)
            answered = (
                offer is not None
                and Message.objects.filter(
                    dialog=locked,
                    author_kind=AuthorKind.CLIENT,
                    sequence__gt=offer.sequence,
                    attachments__0__kind="form_answers",
                    attachments__0__of=CONTACT_FORM,
                ).exists()
            )
            if offer is None or answered:
                raise FormNotExpected(
                    "no_contact_form", _("No contact form is waiting for an answer.")
                )
            name = str(answers.get("name", "")).strip()[:200]
            phone = str(answers.get("phone", "")).strip()[:40]
            email = str(answers.get("email", "")).strip()[:254]
            try:
                customer_bind(client=locked.client, name=name, phone=phone, email=email)
                client_rename(client=locked.client, name=name)
            except ValidationError as error:
                raise FormInvalid({"contact": " ".join(error.messages)}) from None
            _answers_message(
                locked,
                CONTACT_FORM,
                [
                    {"label": _("Name"), "value": name},
                    {
                        "label": _("Phone"),
                        "value": normalise_phone(
                            phone, chat_distribution_for(locked.chat_id).phone_region
                        )
                        if phone
                        else "",
                    },
                    {"label": _("E-mail"), "value": normalise_email(email) if email else ""},
                ],
            )
            message_post(
                dialog=locked,
                author_kind=AuthorKind.SYSTEM,
                text=_("Thank you! We will get back to you soon."),
            )
    dialog.last_sequence = locked.last_sequence
