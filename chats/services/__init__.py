"""Writes of the chats app. Import from here; the modules are split by sub-domain."""

from chats.services.bot_engine import (
    ClientMessageResult,
    UnknownButton,
    bot_answer,
    bot_button_press,
    bot_greet,
    script_matching,
    script_run,
)
from chats.services.dialogs import (
    client_get_or_create,
    client_rename,
    dialog_end_by_client,
    dialog_receive_client_message,
    dialog_start_or_resume,
    dialogs_close_idle,
    page_visit_record,
)
from chats.services.messages import (
    DialogClosed,
    dialog_close,
    dialog_headset_reveal,
    dialog_lock,
    dialog_status_set,
    message_post,
)

__all__ = [
    "ClientMessageResult",
    "DialogClosed",
    "UnknownButton",
    "bot_answer",
    "bot_button_press",
    "bot_greet",
    "client_get_or_create",
    "client_rename",
    "dialog_close",
    "dialog_end_by_client",
    "dialogs_close_idle",
    "dialog_headset_reveal",
    "dialog_lock",
    "dialog_receive_client_message",
    "dialog_start_or_resume",
    "dialog_status_set",
    "message_post",
    "page_visit_record",
    "script_matching",
    "script_run",
]
