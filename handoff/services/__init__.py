"""Handoff writes: the request state machine, forms, deadlines."""

from handoff.services.errors import (
    FormInvalid,
    HandoffError,
    IllegalTransition,
    NotYourRequest,
    RequestAlreadyTaken,
)
from handoff.services.forms import contact_form_submit, form_answer_check, handoff_form_submit
from handoff.services.requests import (
    handoff_settings_for,
    operator_message_post,
    queue_position,
    request_accept,
    request_ask_feedback,
    request_close,
    request_close_by_client,
    request_close_on_operator_idle,
    request_close_on_reply_timeout,
    request_expire,
    request_note_client_message,
    request_open,
    request_queue_notify,
    request_reject,
)
from handoff.services.sweep import deadlines_sweep

__all__ = [
    "FormInvalid",
    "HandoffError",
    "IllegalTransition",
    "NotYourRequest",
    "RequestAlreadyTaken",
    "contact_form_submit",
    "deadlines_sweep",
    "form_answer_check",
    "handoff_form_submit",
    "handoff_settings_for",
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
    "request_reject",
]
