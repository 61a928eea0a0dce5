"""The backend-group bridge: each client gets a topic in the bot's operators' forum
group; their messages are copied there and what operators write in it goes to the
client (one more operator surface of handoff's request state machine)."""

from telegram_bridge.services.group.copying import parallel_messages_copy
from telegram_bridge.services.group.operators import (
    TopicMessage,
    client_message_edited,
    topic_message_edited,
    topic_message_handle,
)
from telegram_bridge.services.group.surface import GroupSurface
from telegram_bridge.services.group.topics import (
    InboundTelegramMessage,
    telegram_message_at_work,
    topic_activate,
)

__all__ = [
    "GroupSurface",
    "InboundTelegramMessage",
    "TopicMessage",
    "client_message_edited",
    "parallel_messages_copy",
    "telegram_message_at_work",
    "topic_activate",
    "topic_message_edited",
    "topic_message_handle",
]
