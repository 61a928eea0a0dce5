"""What chats reaches through its handoff registry (chats.registries.handoff_entry)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import DialogStatus
from chats.models import Chat, Dialog, Message
from chats.registries import HandoffRefused
from chats.services import dialog_end_by_client, feedback_record
from handoff.enums import RequestStatus
from handoff.models import Request
from handoff.services.conversation import request_note_client_message
from handoff.services.errors import FormInvalid, HandoffError, HandoffNotOffered
from handoff.services.forms import contact_form_submit, handoff_form_submit
from handoff.services.lifecycle import request_close_by_client
from handoff.services.opening import request_open
from handoff.services.trigger import trigger_schedule


def _language(dialog: Dialog) -> str:
    """The chat's language now (the caller's copy of the chat may be old): every
    refusal's detail is shown to the visitor as it is."""
    return Chat.objects.values_list("language", flat=True).get(pk=dialog.chat_id)


class HandoffEntryPoint:
    def open_request(self, *, dialog: Dialog, reason: str) -> Request | None:
        try:
            return request_open(dialog=dialog, reason=reason)
        except HandoffNotOffered as error:  # in the chat's language already
            raise HandoffRefused(error.code, str(error)) from None

    def client_wrote(self, *, dialog: Dialog, message: Message) -> None:
        if dialog.status == DialogStatus.BOT:
            trigger_schedule(dialog=dialog)
        else:
            request_note_client_message(dialog=dialog, message=message)

    def close_by_client(self, *, dialog: Dialog) -> None:
        """ "End chat": ends the conversation with a person when a request is open;
        otherwise the visitor ends the dialog itself (it closes, and their next message
        starts a new one)."""
        if request_close_by_client(dialog=dialog) is not None:
            return
        if not dialog_end_by_client(dialog=dialog):
            with override(_language(dialog)):
                detail = _("There is nothing to end here.")
            raise HandoffRefused("nothing_to_close", detail)

    def submit_form(self, *, dialog: Dialog, answers: dict) -> None:
        try:
            with override(_language(dialog)):
                handoff_form_submit(dialog=dialog, answers=answers)
        except HandoffError as error:
            raise HandoffRefused(error.code, str(error)) from None

    def submit_contact(self, *, dialog: Dialog, answers: dict) -> None:
        try:
            with override(_language(dialog)):
                contact_form_submit(dialog=dialog, answers=answers)
        except FormInvalid as error:
            raise HandoffRefused(error.code, str(error)) from None
        except HandoffError as error:
            raise HandoffRefused(error.code, str(error)) from None

    def rate(self, *, dialog: Dialog, request_id: int, score: int) -> None:
        request = (
            Request.objects.select_related("operator")
            .filter(
                pk=request_id,
                dialog=dialog,
                accepted_at__isnull=False,
                status__in=[RequestStatus.ACCEPTED, RequestStatus.CLOSED],
            )
            .first()
        )
        language = _language(dialog)
        if request is None:
            with override(language):
                detail = _("There is no finished conversation here to rate.")
            raise HandoffRefused("unknown_request", detail)
        try:
            with override(language):
                feedback_record(
                    dialog=dialog,
                    score=score,
                    handoff_request_id=request.pk,
                    operator_id=request.operator_id,
                    operator_name=request.operator.display_name if request.operator else "",
                )
        except ValidationError as error:
            with override(language):
                detail = " ".join(error.messages)
            raise HandoffRefused("invalid", detail) from None
