"""Managers on Telegram: connect links (connect_links), alerts with Accept / Reject
(alerts), relaying a conversation both ways and /done (relay), and what a manager
reads (texts). Accepting, rejecting, writing and closing go through handoff's
services, the same ones the console calls, so the first accept wins once."""

from telegram_bridge.services.managers.alerts import alerts_update, manager_accept, manager_reject
from telegram_bridge.services.managers.connect_links import (
    ConnectRefused,
    connect_link_create,
    connect_link_redeem,
)
from telegram_bridge.services.managers.relay import TelegramSurface, manager_message_receive
from telegram_bridge.services.managers.texts import alert_text

__all__ = [
    "ConnectRefused",
    "TelegramSurface",
    "alert_text",
    "alerts_update",
    "connect_link_create",
    "connect_link_redeem",
    "manager_accept",
    "manager_message_receive",
    "manager_reject",
]
