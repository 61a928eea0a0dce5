"""Private notes on a conversation: an operator who may open a request writes a note
the other operators watching it see at once. A note is not a message: it has no place
in the dialog's sequence, and no outbound channel, operator surface (Telegram),
feedback or export reads it, so the visitor never gets it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from chats.validators import validate_encodable
from distributor.models import Operator
from handoff.models import ConversationNote
from handoff.realtime import note_added_publish
from handoff.selectors_conversation import note_payload, request_get_for_conversation
from handoff.services.errors import NotYourRequest


def note_text_check(text: object) -> str:
    """The note's text as it will be stored, or ValidationError: `blank`, `too_long`
    (over ConversationNote.TEXT_MAX_CHARS characters), `unencodable` (a lone surrogate or
    a NUL)."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(_("Write the note first."), code="blank")
    if len(text) > ConversationNote.TEXT_MAX_CHARS:
        raise ValidationError(
            _("A note may be at most %(max)d characters.")
            % {"max": ConversationNote.TEXT_MAX_CHARS},
            code="too_long",
        )
    validate_encodable(text)
    return text


def conversation_note_add(
    *, request_id: int, operator: Operator, text: str, client_msg_id: str
) -> tuple[ConversationNote, bool]:
    """Store `operator`'s private note on the request and, after commit, publish it to
    the consoles watching that request. Only for a request the operator may open
    (handoff.selectors_conversation.request_get_for_conversation: Request.DoesNotExist
    otherwise). Idempotent on client_msg_id: a resend of this operator's stored note
    returns (note, False) and publishes nothing; the same id on another operator's note
    of the request is refused (NotYourRequest). Bad text raises ValidationError
    (note_text_check); nothing is stored then."""
    text = note_text_check(text)
    request = request_get_for_conversation(operator=operator, request_id=request_id)
    with transaction.atomic():
        stored = _stored(request.pk, client_msg_id, operator)
        if stored is not None:
            return stored, False
        try:
            with transaction.atomic():
                note = ConversationNote.objects.create(
                    request=request,
                    author=operator,
                    author_name=operator.display_name,
                    text=text,
                    client_msg_id=client_msg_id,
                )
        except IntegrityError:
            # the same note sent twice at once: the other send stored it
            stored = _stored(request.pk, client_msg_id, operator)
            if stored is None:
                raise
            return stored, False
        note_added_publish(request_id=request.pk, note=note_payload(note))
    return note, True


def _stored(request_id: int, client_msg_id: str, operator: Operator) -> ConversationNote | None:
    stored = ConversationNote.objects.filter(
        request_id=request_id, client_msg_id=client_msg_id
    ).first()
    if stored is not None and stored.author_id != operator.pk:
        raise NotYourRequest(_("This note id is another operator's."))
    return stored
