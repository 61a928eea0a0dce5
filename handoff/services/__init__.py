"""Handoff writes: the request lifecycle, messages while a request is open, forms,
deadlines. Import them from here."""

from handoff.services.assignment import (
    request_distribute,
    request_offer_expire,
    request_reject,
    requests_drain,
)
from handoff.services.client_asks import (
    client_close,
    client_contact_submit,
    client_form_submit,
    request_rate,
)
from handoff.services.conversation import (
    conversation_read_mark,
    operator_message_post,
    request_note_client_message,
)
from handoff.services.deadlines import (
    queue_position,
    request_ask_feedback,
    request_close_on_operator_idle,
    request_close_on_reply_timeout,
    request_expire,
    request_queue_notify,
)
from handoff.services.errors import (
    FormInvalid,
    FormNotExpected,
    HandoffError,
    HandoffNotOffered,
    IllegalTransition,
    NothingToClose,
    NothingToRate,
    NotYourRequest,
    OfferedToAnother,
    OperatorAtCapacity,
    RatingInvalid,
    RequestAlreadyTaken,
    TransferInvalid,
    TransferTargetUnavailable,
)
from handoff.services.feedback import feedback_record
from handoff.services.forms import contact_form_submit, form_answer_check, handoff_form_submit
from handoff.services.handoff_settings import handoff_settings_for, working_hours_for
from handoff.services.lifecycle import (
    request_accept,
    request_close,
    request_close_by_client,
)
from handoff.services.notes import conversation_note_add, note_text_check
from handoff.services.opening import request_open, request_reason_check
from handoff.services.sweep import deadlines_sweep
from handoff.services.transfer import TRANSFER_REASON_MAX, request_transfer

__all__ = [
    "FormInvalid",
    "FormNotExpected",
    "HandoffError",
    "HandoffNotOffered",
    "IllegalTransition",
    "NothingToClose",
    "NothingToRate",
    "NotYourRequest",
    "OfferedToAnother",
    "OperatorAtCapacity",
    "RatingInvalid",
    "RequestAlreadyTaken",
    "TRANSFER_REASON_MAX",
    "TransferInvalid",
    "TransferTargetUnavailable",
    "client_close",
    "client_contact_submit",
    "client_form_submit",
    "contact_form_submit",
    "conversation_note_add",
    "conversation_read_mark",
    "deadlines_sweep",
    "feedback_record",
    "form_answer_check",
    "handoff_form_submit",
    "handoff_settings_for",
    "working_hours_for",
    "note_text_check",
    "operator_message_post",
    "request_ask_feedback",
    "queue_position",
    "request_accept",
    "request_close",
    "request_close_by_client",
    "request_close_on_operator_idle",
    "request_close_on_reply_timeout",
    "request_expire",
    "request_note_client_message",
    "request_open",
    "request_queue_notify",
    "request_rate",
    "request_reason_check",
    "request_reject",
    "request_transfer",
    "request_distribute",
    "request_offer_expire",
    "requests_drain",
]
