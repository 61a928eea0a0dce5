"""python-telegram-bot handlers: thin. They read the update, answer callback queries at
once, and call telegram_bridge.services.inbound on the database thread."""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from telegram_bridge.runtime import application_builder
from telegram_bridge.services import inbound
from telegram_bridge.services.clients import TelegramUser
from telegram_bridge.services.files import media_attachment

logger = logging.getLogger(__name__)


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


async def on_private_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    bot_id = context.application.bot_data["bot_id"]
    text = message.text or message.caption or ""
    command, argument = _command(message.text or "")
    attachments = []
    if message.photo:
        attachments.append(
            media_attachment(bot_id=bot_id, kind="photo", file_id=message.photo[-1].file_id)
        )
    if message.document:
        attachments.append(
            media_attachment(
                bot_id=bot_id,
                kind="document",
                file_id=message.document.file_id,
                file_name=message.document.file_name or "",
                mime_type=message.document.mime_type or "",
            )
        )
    if not text and attachments:
        text = "📷" if attachments[0]["kind"] == "photo" else f"📎 {attachments[0]['file_name']}"
    await database_sync_to_async(inbound.private_message_handle)(
        bot_id=bot_id,
        update_id=update.update_id,
        chat_id=message.chat_id,
        user=_user(update),
        text=text,
        command=command,
        command_argument=argument,
        attachments=attachments,
        reply_to=message.reply_to_message.message_id if message.reply_to_message else None,
    )


async def on_callback_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    try:
        await query.answer()  # at once: the spinner on the button stops
    except TelegramError:
        logger.info("could not answer callback query %s", query.id)
    message = query.message
    await database_sync_to_async(inbound.callback_handle)(
        bot_id=context.application.bot_data["bot_id"],
        update_id=update.update_id,
        chat_id=message.chat.id if message else query.from_user.id,
        user=_user(update),
        data=query.data or "",
        message_id=message.message_id if message else None,
    )


async def on_my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    change = update.my_chat_member
    await database_sync_to_async(inbound.member_status_handle)(
        bot_id=context.application.bot_data["bot_id"],
        chat_id=change.chat.id,
        status=change.new_chat_member.status,
    )


async def on_group_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    command, _argument = _command(update.effective_message.text or "")
    if command:
        await database_sync_to_async(inbound.group_command_handle)(
            bot_id=context.application.bot_data["bot_id"],
            chat_id=update.effective_chat.id,
            command=command,
        )


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    logger.error("Telegram update failed", exc_info=context.error)
    if isinstance(update, Update):
        context.application.bot_data.setdefault("errors", {})[update.update_id] = repr(
            context.error
        )


def application_build(token: str, bot_id: int) -> Application:
    application = application_builder(token).build()
    application.bot_data["bot_id"] = bot_id
    application.add_handler(CallbackQueryHandler(on_callback_query))
    application.add_handler(ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & (filters.TEXT | filters.PHOTO | filters.Document.ALL),
            on_private_message,
        )
    )
    application.add_handler(
        MessageHandler(filters.ChatType.GROUPS & filters.TEXT, on_group_message)
    )
    application.add_error_handler(on_error)
    return application
