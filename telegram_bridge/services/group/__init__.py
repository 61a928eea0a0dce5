"""The backend-group bridge: each client gets a topic in the bot's operators' forum
group; their messages are copied there and what operators write in it goes to the
client (one more operator surface of handoff's request state machine)."""

from telegram_bridge.services.group.copying import parallel_messages_copy

__all__ = ["parallel_messages_copy"]
