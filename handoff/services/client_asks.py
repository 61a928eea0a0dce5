"""What a client asks of handoff on any surface (the widget's frames, Telegram's
commands and buttons): end the chat, answer a form, rate a conversation. Every refusal
is a HandoffError whose detail is in the chat's language, shown to the client as it is."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.models import Chat, Dialog
from chats.services import dialog_end_by_client
from handoff.enums import RequestStatus
from handoff.models import Request
from handoff.services.errors import NothingToClose, NothingToRate, RatingInvalid
from handoff.services.feedback import feedback_record
from handoff.services.forms import contact_form_submit, handoff_form_submit
from handoff.services.lifecycle import request_close_by_client


def _language(dialog: Dialog) -> str:
    """The chat's language now (the caller's copy of the chat may be old)."""
    return Chat.objects.values_list("language", flat=True).get(pk=dialog.chat_id)


def client_close(*, dialog: Dialog) -> None:
    """ "End chat": ends the conversation with a person when a request is open;
    otherwise the client ends the dialog itself (it closes, and their next message
    starts a new one). Raises NothingToClose when neither is there."""
    if request_close_by_client(dialog=dialog) is not None:
        return
    if not dialog_end_by_client(dialog=dialog):
        with override(_language(dialog)):
            raise NothingToClose(_("There is nothing to end here."))


def client_form_submit(*, dialog: Dialog, answers: dict) -> Request | None:
    """handoff_form_submit with its refusals in the chat's language."""
    with override(_language(dialog)):
        return handoff_form_submit(dialog=dialog, answers=answers)


def client_contact_submit(*, dialog: Dialog, answers: dict) -> None:
    """contact_form_submit with its refusals in the chat's language."""
    with override(_language(dialog)):
        contact_form_submit(dialog=dialog, answers=answers)


def request_rate(*, dialog: Dialog, request_id: int, score: int) -> None:
    """The client rates a conversation of this dialog that an operator accepted.
    Raises NothingToRate for any other request, RatingInvalid for a score outside the
    chat's scale."""
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
    with override(_language(dialog)):
        if request is None:
            raise NothingToRate(_("There is no finished conversation here to rate."))
        try:
            feedback_record(dialog=dialog, request=request, score=score)
        except ValidationError as error:
            raise RatingInvalid(" ".join(error.messages)) from None
