"""Sending rows to a client's topic in the bot's forum group (purpose TOPIC; the
payload names the ClientTopic as "topic"). A topic is made when something is first
sent to it, and made anew when Telegram answers that its thread is gone (someone
deleted it): createForumTopic, then its card (sendMessage + pinChatMessage), each
recorded at once in a commit of its own, so the next row of the round and the next
round find it. A worker killed between the creation and its recording leaves an
empty topic behind, and the next send makes another: Telegram has no idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from django.db import connection
from telegram import Bot
from telegram.error import BadRequest

from telegram_bridge.models import ClientTopic, TopicLink

logger = logging.getLogger(__name__)

THREAD_GONE = ("message thread not found", "topic_deleted", "topic_id_invalid")
TOPIC_MANAGING = ("closeForumTopic", "reopenForumTopic", "editForumTopic")


@dataclass
class TopicState:
    """What the sender knows of a topic during a round (shared by its rows)."""

    topic_id: int
    thread_id: int | None
    name: str
    card_text: str
    card_message_id: int | None


def topic_states(rows: list[dict]) -> None:
    """Give each topic row (read by _due_rows) its topic's state: one query a round."""
    topic_ids = {row["payload"].get("topic") for row in rows if row["payload"].get("topic")}
    if not topic_ids:
        return
    states = {
        pk: TopicState(pk, thread, name, card_text, card)
        for pk, thread, name, card_text, card in ClientTopic.objects.filter(
            pk__in=topic_ids
        ).values_list("pk", "message_thread_id", "name", "card_text", "card_message_id")
    }
    for row in rows:
        row["topic_state"] = states.get(row["payload"].get("topic"))


def _thread_gone(error: BadRequest) -> bool:
    message = str(error).lower()
    return any(marker in message for marker in THREAD_GONE)


# both run in a thread of the Telegram loop (asyncio.to_thread), as _broadcast_claim
# does, and give its connection back (a pooled one was otherwise held by the thread)
def _topic_made(topic_id: int, thread_id: int | None, card_message_id: int | None) -> None:
    try:
        ClientTopic.objects.filter(pk=topic_id).update(
            message_thread_id=thread_id, card_message_id=card_message_id
        )
    finally:
        connection.close_if_unusable_or_obsolete()


def _links_record(link_ids: list[int], message_ids: list[int]) -> None:
    try:
        for link_id, message_id in zip(link_ids, message_ids, strict=False):
            TopicLink.objects.filter(pk=link_id).update(group_message_id=message_id)
    finally:
        connection.close_if_unusable_or_obsolete()


async def _card_send(bot: Bot, chat_id: int, state: TopicState, text: str) -> None:
    card = await bot.send_message(chat_id, text, message_thread_id=state.thread_id)
    state.card_message_id = card.message_id
    try:
        await bot.pin_chat_message(chat_id, card.message_id, disable_notification=True)
    except BadRequest as error:  # no right to pin: the card is still the topic's first
        logger.info("could not pin a topic card in %s: %s", chat_id, error)


async def _topic_make(bot: Bot, chat_id: int, state: TopicState) -> None:
    created = await bot.create_forum_topic(chat_id, state.name[:128] or "…")
    state.thread_id = created.message_thread_id
    state.card_message_id = None
    await asyncio.to_thread(_topic_made, state.topic_id, state.thread_id, None)
    if state.card_text:
        await _card_send(bot, chat_id, state, state.card_text)
        await asyncio.to_thread(_topic_made, state.topic_id, state.thread_id, state.card_message_id)


async def _card_update(bot: Bot, chat_id: int, state: TopicState, text: str):
    state.card_text = text
    if state.card_message_id is not None:
        try:
            return await bot.edit_message_text(
                text, chat_id=chat_id, message_id=state.card_message_id
            )
        except BadRequest as error:
            if "not modified" in str(error).lower():
                return True
            if "not found" not in str(error).lower() or _thread_gone(error):
                raise
    await _card_send(bot, chat_id, state, text)
    await asyncio.to_thread(_topic_made, state.topic_id, state.thread_id, state.card_message_id)
    return True


async def _topic_call(bot: Bot, chat_id: int, method: str, payload: dict, state: TopicState):
    thread = state.thread_id
    if method == "topicCard":
        return await _card_update(bot, chat_id, state, payload["text"])
    if method == "sendMessage":
        return await bot.send_message(chat_id, payload["text"], message_thread_id=thread)
    if method == "copyMessages":
        return await bot.copy_messages(
            chat_id, payload["from_chat_id"], payload["message_ids"], message_thread_id=thread
        )
    if method == "editMessageText":
        return await bot.edit_message_text(
            payload["text"], chat_id=chat_id, message_id=payload["message_id"]
        )
    if method == "editMessageCaption":
        return await bot.edit_message_caption(
            chat_id=chat_id, message_id=payload["message_id"], caption=payload["caption"]
        )
    if method == "closeForumTopic":
        return await bot.close_forum_topic(chat_id, thread)
    if method == "reopenForumTopic":
        return await bot.reopen_forum_topic(chat_id, thread)
    if method == "editForumTopic":
        return await bot.edit_forum_topic(chat_id, thread, name=payload["name"][:128])
    raise ValueError(f"unknown topic method {method}")


async def topic_send(bot: Bot, chat_id: int, row: dict):
    """Make one topic row's call, making the topic first when it has none (or it was
    deleted). Returns the call's result (None: nothing to do)."""
    state: TopicState | None = row.get("topic_state")
    method, payload = row["method"], row["payload"]
    if state is None:
        return None  # the topic was deleted in Admin
    if method in TOPIC_MANAGING or method.startswith("edit"):
        if state.thread_id is None:
            return None  # no topic to close, reopen or edit in
        try:
            return await _topic_call(bot, chat_id, method, payload, state)
        except BadRequest as error:
            if "not_modified" in str(error).lower() or "not modified" in str(error).lower():
                return True  # closed or open already
            if method in TOPIC_MANAGING and _thread_gone(error):
                # someone deleted the topic: nothing to close, reopen or rename, and no
                # fault of the group's; the next send makes it anew
                state.thread_id = None
                state.card_message_id = None
                await asyncio.to_thread(_topic_made, state.topic_id, None, None)
                return None
            raise
    for attempt in range(2):
        if state.thread_id is None:
            if method == "topicCard":
                state.card_text = payload["text"]
            await _topic_make(bot, chat_id, state)
            if method == "topicCard":
                return True  # made with this card
        try:
            if state.card_message_id is None and state.card_text and method != "topicCard":
                # the topic was made but its card was not sent (a 429 right after): now
                await _card_send(bot, chat_id, state, state.card_text)
                await asyncio.to_thread(
                    _topic_made, state.topic_id, state.thread_id, state.card_message_id
                )
            result = await _topic_call(bot, chat_id, method, payload, state)
        except BadRequest as error:
            if attempt == 0 and _thread_gone(error):
                state.thread_id = None
                continue
            raise
        links = payload.get("links")
        if links:
            sent = result if isinstance(result, tuple | list) else [result]
            message_ids = [getattr(item, "message_id", None) for item in sent]
            await asyncio.to_thread(_links_record, links, message_ids)
        return result
    return None
