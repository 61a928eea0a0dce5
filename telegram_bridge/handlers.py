"""Routing one stored update: python-telegram-bot reads it (`Update.de_json`), and the
router calls the service for what it is, in the worker's own thread and transaction.

No python-telegram-bot Application: feeding it meant sync → event loop → a database
thread → sync for every update. The event loop is visited only to answer a callback
query (at once, before anything else), with the bot's sender (telegram_bridge.runtime).

What the router handles, as the Application's handlers did: callback queries; the
bot's own membership (my_chat_member); private messages with text, a photo or a
document; text in groups (for /groupid). Anything else is processed as nothing to do.
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
from telegram_bridge.services.files import media_attachment

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


def _private_message(bot: TelegramBot, update: Update) -> None:
    message = update.message
    text = message.text or message.caption or ""
    command, argument = _command(message.text or "")
    attachments = []
    if message.photo:
        attachments.append(
            media_attachment(
                bot_id=bot.pk, kind=AttachmentKind.PHOTO, file_id=message.photo[-1].file_id
            )
        )
    if message.document:
        attachments.append(
            media_attachment(
                bot_id=bot.pk,
                kind=AttachmentKind.DOCUMENT,
                file_id=message.document.file_id,
                file_name=message.document.file_name or "",
                mime_type=message.document.mime_type or "",
            )
        )
    if not text and attachments:
        first = attachments[0]
        text = "📷" if first["kind"] == AttachmentKind.PHOTO else f"📎 {first['file_name']}"
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


async def _answer(bot_id: int, token: str, query_id: str) -> None:
    sender = await telegram_runtime.sender(bot_id, token)
    await sender.answer_callback_query(query_id)


def update_acknowledge(*, bot: TelegramBot, update: Update) -> None:
    """What must reach Telegram before the update is handled: a callback query is
    answered at once (the spinner on the button stops). Called with no transaction
    open, since it waits for the network."""
    query = update.callback_query
    if query is None:
        return
    try:
        telegram_runtime.run(partial(_answer, bot.pk, bot.token, query.id), ANSWER_TIMEOUT)
    except (TelegramError, TimeoutError):
        logger.info("could not answer callback query %s", query.id)


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
        _callback_query(bot, update)
        return
    if update.my_chat_member is not None:
        change = update.my_chat_member
        inbound.member_status_handle(
            bot=bot, chat_id=change.chat.id, status=change.new_chat_member.status
        )
        return
    message = update.message  # edits and channel posts are not asked for (allowed_updates)
    if message is None:
        return
    if message.chat.type == ChatType.PRIVATE:
        if message.text or message.photo or message.document:
            _private_message(bot, update)
    elif message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP) and message.text:
        command, _argument = _command(message.text)
        if command:
            inbound.group_command_handle(bot=bot, chat_id=message.chat.id, command=command)
