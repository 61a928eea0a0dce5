"""Copying Telegram messages into a client's topic."""

from __future__ import annotations

from chats.enums import Messenger
from telegram_bridge.models import ClientTopic, OutboundMessage, SendPurpose, TelegramBot
from telegram_bridge.services.outbox import outbound_enqueue


def topic_of_telegram_chat(*, bot: TelegramBot, chat_id: int) -> ClientTopic | None:
    """The open topic of the client who talks to `bot` in the private chat `chat_id`."""
    if not bot.forum_group_id:
        return None
    return (
        ClientTopic.objects.filter(
            bot=bot,
            group_id=bot.forum_group_id,
            client__chat_id=bot.chat_id,
            client__messenger=Messenger.TELEGRAM,
            client__external_id=str(chat_id),
            closed_at__isnull=True,
            # a topic showing a request (not one kept for a client who has not said
            # a keyword yet: the group must not see them)
            request__isnull=False,
        )
        .only("pk", "group_id")
        .first()
    )


def topic_enqueue(
    *,
    bot: TelegramBot,
    topic: ClientTopic,
    method: str,
    payload: dict,
    request_id: int | None = None,
    message_id: int | None = None,
) -> OutboundMessage:
    """Record a Bot API call in the client's topic: the sender finds the topic's thread
    (making the topic when it has none) from the payload's "topic"."""
    return outbound_enqueue(
        bot=bot,
        telegram_chat_id=topic.group_id,
        method=method,
        payload={"topic": topic.pk, **payload},
        purpose=SendPurpose.TOPIC,
        request_id=request_id,
        message_id=message_id,
    )


def topic_copy(
    *, bot: TelegramBot, topic: ClientTopic, from_chat_id: int, message_ids: list[int]
) -> None:
    """Copy messages of the chat `from_chat_id` into the topic: one copyMessages call,
    so an album stays an album."""
    topic_enqueue(
        bot=bot,
        topic=topic,
        method="copyMessages",
        payload={"from_chat_id": from_chat_id, "message_ids": list(message_ids)},
    )


def parallel_messages_copy(*, bot: TelegramBot, chat_id: int, message_ids: list[int]) -> bool:
    """What the parallel bot sent to a client's private chat (through Baton's Bot API
    proxy) is copied into the client's topic, when the bot copies and the client has an
    open topic. Returns whether it was."""
    if not bot.copy_parallel_bot or chat_id <= 0 or not message_ids:
        return False
    topic = topic_of_telegram_chat(bot=bot, chat_id=chat_id)
    if topic is None:
        return False
    topic_copy(bot=bot, topic=topic, from_chat_id=chat_id, message_ids=message_ids)
    return True
