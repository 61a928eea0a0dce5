"""The one outbound path to Telegram: whatever must be sent is written as an
OutboundMessage in the transaction that decided it (writing), and after commit the
bot's sender, a Celery task on the `telegram` queue, sends it (sending)."""

from telegram_bridge.services.outbox.sending import DeliveryReport, Outcome, outbox_deliver
from telegram_bridge.services.outbox.writing import (
    CAPTION_LIMIT,
    DELIVER_TASK,
    TEXT_LIMIT,
    album_row_waiting,
    album_wait,
    delivery_schedule,
    keyboard,
    outbound_enqueue,
)

__all__ = [
    "CAPTION_LIMIT",
    "album_row_waiting",
    "album_wait",
    "DELIVER_TASK",
    "TEXT_LIMIT",
    "DeliveryReport",
    "Outcome",
    "delivery_schedule",
    "keyboard",
    "outbound_enqueue",
    "outbox_deliver",
]
