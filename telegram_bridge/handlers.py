"""Routing one stored update: python-telegram-bot reads it (`Update.de_json`), and the
router calls the service for what it is, in the worker's own thread and transaction.

No python-telegram-bot Application: feeding it meant sync → event loop → a database
thread → sync for every update. The event loop is visited only to answer a callback
query (at once, before anything else), with the bot's sender (telegram_bridge.runtime).

What the router handles, as the Application's handlers did: callback queries; the
bot's own membership (my_chat_member); private messages with text, a photo, a
document, voice, audio, video, an animation or a sticker; messages in the topics of
the bot's forum group (telegram_bridge.services.group); edits of private and topic
messages; text in groups (for /groupid). Anything else is processed as nothing to do.
"""

from __future__ import annotations

import logging
from functools import partial

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from chats.enums import AttachmentKind
from telegram_bridge.models import TelegramBot
from telegram_bridge.runtime import telegram_runtime
from telegram_bridge.services import inbound
from telegram_bridge.services.clients import TelegramUser
from telegram_bridge.services.clients.sending import FILE_TYPE_METHODS
from telegram_bridge.services.files import media_attachment
from telegram_bridge.services.group import (
    InboundTelegramMessage,
    TopicMessage,
    client_message_edited,
    telegram_message_at_work,
    topic_message_edited,
    topic_message_handle,
)
from telegram_bridge.services.proxy import callback_query_is_parallel

logger = logging.getLogger(__name__)

ANSWER_TIMEOUT = 15.0  # seconds; an unanswered query only keeps its spinner a while


def _user(update: Update) -> TelegramUser:
    user = update.effective_user
    return TelegramUser(
        id=user.id,
        first_name=user.first_name or "",
        last_name=user.last_name or "",
        username=user.username or "",
    )


def _command(text: str) -> tuple[str | None, str]:
    if not text.startswith("/"):
        return None, ""
    head, _sep, rest = text.partition(" ")
    return head[1:].split("@", 1)[0].lower(), rest.strip()


# media a client or an operator may send besides photos: kept as a document
# attachment with its Telegram type, sent on by file_id with the matching method
FILE_KINDS = tuple(FILE_TYPE_METHODS)


def _attachments(bot: TelegramBot, message) -> list[dict]:
    attachments = []
    if message.photo:
        attachments.append(
            media_attachment(
                bot_id=bot.pk, kind=AttachmentKind.PHOTO, file_id=message.photo[-1].file_id
            )
        )
    # a GIF comes with `document` set too ("for backward compatibility"): one file
    if message.document and message.animation is None:
        attachments.append(
            media_attachment(
                bot_id=bot.pk,
                kind=AttachmentKind.DOCUMENT,
                file_id=message.document.file_id,
                file_name=message.document.file_name or "",
                mime_type=message.document.mime_type or "",
            )
        )
    for kind in FILE_KINDS:
        media = getattr(message, kind, None)
        if media is not None:
            item = media_attachment(
                bot_id=bot.pk,
                kind=AttachmentKind.DOCUMENT,
                file_id=media.file_id,
                file_name=getattr(media, "file_name", None) or kind,
                mime_type=getattr(media, "mime_type", None) or "",
            )
            item["telegram_type"] = kind
            attachments.append(item)
    return attachments


def _text_of(message, attachments: list[dict]) -> str:
    text = message.text or message.caption or ""
    if not text and attachments:
        first = attachments[0]
        if first["kind"] == AttachmentKind.PHOTO:
            text = "📷"
        elif first.get("telegram_type") == "sticker":
            text = message.sticker.emoji or "🖼"
        elif first.get("telegram_type") in ("voice", "video_note"):
            text = "🎤"
        else:
            text = f"📎 {first['file_name']}"
    return text


def _has_content(message) -> bool:
    return bool(
        message.text
        or message.photo
        or message.document
        or any(getattr(message, kind, None) is not None for kind in FILE_KINDS)
    )


def _private_message(bot: TelegramBot, update: Update) -> None:
    message = update.message
    attachments = _attachments(bot, message)
    text = _text_of(message, attachments)
    command, argument = _command(message.text or "")
    at_work = InboundTelegramMessage(
        chat_id=message.chat_id,
        message_id=message.message_id,
        media_group_id=message.media_group_id,
    )
    token = telegram_message_at_work.set(at_work)
    try:
        inbound.private_message_handle(
            bot=bot,
            update_id=update.update_id,
            chat_id=message.chat_id,
            user=_user(update),
            text=text,
            command=command,
            command_argument=argument,
            attachments=attachments,
            reply_to=message.reply_to_message.message_id if message.reply_to_message else None,
        )
    finally:
        telegram_message_at_work.reset(token)


def _topic_message(bot: TelegramBot, update: Update) -> None:
    message = update.message
    if message.from_user is None or message.from_user.is_bot or not _has_content(message):
        return  # service messages (topic created, pinned…) and bots
    attachments = _attachments(bot, message)
    for item in attachments:
        if message.media_group_id:
            item["media_group"] = message.media_group_id
            if not message.caption:  # a later item: the album's caption is on its first
                item["album_uncaptioned"] = True
    command, _argument = _command(message.text or "")
    topic_message_handle(
        bot=bot,
        message=TopicMessage(
            update_id=update.update_id,
            thread_id=message.message_thread_id,
            message_id=message.message_id,
            user_id=message.from_user.id,
            text=_text_of(message, attachments) if not command else message.text,
            command=command,
            attachments=attachments,
            media_group_id=message.media_group_id,
        ),
    )


def _edited_message(bot: TelegramBot, update: Update) -> None:
    edited = update.edited_message
    text = edited.text or edited.caption or ""
    if edited.chat.type == ChatType.PRIVATE:
        client_message_edited(
            bot=bot,
            chat_id=edited.chat_id,
            message_id=edited.message_id,
            text=text,
            caption=edited.text is None,
        )
    elif _in_forum_topic(bot, edited):
        topic_message_edited(
            bot=bot,
            thread_id=edited.message_thread_id,
            message_id=edited.message_id,
            text=text,
            user_id=edited.from_user.id if edited.from_user else 0,
        )


def _in_forum_topic(bot: TelegramBot, message) -> bool:
    return bool(
        bot.forum_group_id
        and message.chat.id == bot.forum_group_id
        and message.is_topic_message
        and message.message_thread_id
    )


async def _answer(bot_id: int, token: str, query_id: str) -> None:
    sender = await telegram_runtime.sender(bot_id, token)
    await sender.answer_callback_query(query_id)


def update_acknowledge(*, bot: TelegramBot, update: Update) -> None:
    """What must reach Telegram before the update is handled: a callback query is
    answered at once (the spinner on the button stops). Called with no transaction
    open, since it waits for the network."""
    query = update.callback_query
    if query is None or _parallel_press(bot, update):
        return  # the parallel bot answers its own buttons (a query is answered once)
    try:
        telegram_runtime.run(partial(_answer, bot.pk, bot.token, query.id), ANSWER_TIMEOUT)
    except (TelegramError, TimeoutError):
        logger.info("could not answer callback query %s", query.id)


def _parallel_press(bot: TelegramBot, update: Update) -> bool:
    """A button of a message the parallel bot sent (not Baton): its business."""
    message = update.callback_query.message
    return callback_query_is_parallel(
        bot=bot,
        chat_id=message.chat.id if message else None,
        message_id=message.message_id if message else None,
    )


def _callback_query(bot: TelegramBot, update: Update) -> None:
    query = update.callback_query
    message = query.message
    inbound.callback_handle(
        bot=bot,
        update_id=update.update_id,
        chat_id=message.chat.id if message else query.from_user.id,
        user=_user(update),
        data=query.data or "",
        message_id=message.message_id if message else None,
    )


def update_route(*, bot: TelegramBot, update: Update) -> None:
    """Handle one update (after update_acknowledge), inside the caller's transaction;
    an exception means it failed (and may be tried again)."""
    if update.callback_query is not None:
        if not _parallel_press(bot, update):
            _callback_query(bot, update)
        return
    if update.my_chat_member is not None:
        change = update.my_chat_member
        inbound.member_status_handle(
            bot=bot, chat_id=change.chat.id, status=change.new_chat_member.status
        )
        return
    if update.edited_message is not None:
        _edited_message(bot, update)
        return
    message = update.message  # channel posts are not asked for (allowed_updates)
    if message is None:
        return
    if message.chat.type == ChatType.PRIVATE:
        if _has_content(message):
            _private_message(bot, update)
    elif _in_forum_topic(bot, message):
        _topic_message(bot, update)
    elif message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP) and message.text:
        command, _argument = _command(message.text)
        if command:
            inbound.group_command_handle(bot=bot, chat_id=message.chat.id, command=command)
