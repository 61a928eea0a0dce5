"""Operators on Telegram: connect links (connect_links), alerts with Accept / Reject
(alerts), relaying a conversation both ways and /done (relay), what an operator
reads (texts), files of ours sent to them as documents (documents), /online /away
/offline (presence), and handing a conversation on (transfers). Accepting,
rejecting, writing and closing go through handoff's services, the same ones the
console calls, so the first accept wins once."""

from telegram_bridge.services.operators.alerts import (
    alerts_update,
    operator_accept,
    operator_reject,
)
from telegram_bridge.services.operators.connect_links import (
    ConnectRefused,
    connect_link_create,
    connect_link_redeem,
)
from telegram_bridge.services.operators.documents import (
    DocumentRefused,
    operator_account_for_documents,
    operator_document_send,
)
from telegram_bridge.services.operators.presence import operator_presence_command
from telegram_bridge.services.operators.relay import TelegramSurface, operator_message_receive
from telegram_bridge.services.operators.texts import alert_text
from telegram_bridge.services.operators.transfers import (
    transfer_cancel,
    transfer_target_choose,
    transfer_targets_offer,
)

__all__ = [
    "ConnectRefused",
    "DocumentRefused",
    "TelegramSurface",
    "alert_text",
    "alerts_update",
    "connect_link_create",
    "connect_link_redeem",
    "operator_accept",
    "operator_account_for_documents",
    "operator_document_send",
    "operator_message_receive",
    "operator_presence_command",
    "operator_reject",
    "transfer_cancel",
    "transfer_target_choose",
    "transfer_targets_offer",
]
