"""A Telegram client's side of the outbox: which bot serves a dialog, which Telegram
chat is the client's, and sending to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from chats.enums import AttachmentKind
from chats.models import Chat, Dialog, Message
from chats.selectors_uploads import upload_file_path
from telegram_bridge.models import OutboundMessage, SendPurpose, TelegramBot
from telegram_bridge.services.outbox import album_row_waiting, album_wait, outbound_enqueue

MEDIA_KINDS = (AttachmentKind.PHOTO, AttachmentKind.DOCUMENT)
# Telegram types kept on a document attachment ("telegram_type"), sent by file_id with
# their own method (outbox.sending.FILE_METHODS); these two take no caption
FILE_TYPE_METHODS = {
    "voice": "sendVoice",
    "audio": "sendAudio",
    "video": "sendVideo",
    "animation": "sendAnimation",
    "sticker": "sendSticker",
    "video_note": "sendVideoNote",
}
NO_CAPTION = ("sticker", "video_note")
# album items as sendMediaGroup takes them
ALBUM_TYPES = {"photo": "photo", "document": "document", "video": "video", "audio": "audio"}


def media_send(item: dict, caption: str) -> tuple[str, dict]:
    """The Bot API method and payload that send a Telegram attachment again by its
    file_id (valid for the same bot in any chat)."""
    file_id = item["telegram_file_id"]
    telegram_type = item.get("telegram_type")
    if telegram_type in FILE_TYPE_METHODS:
        payload = {"file": file_id}
        if telegram_type not in NO_CAPTION:
            payload["caption"] = caption
        return FILE_TYPE_METHODS[telegram_type], payload
    if item.get("kind") == AttachmentKind.PHOTO:
        return "sendPhoto", {"photo": file_id, "caption": caption}
    return "sendDocument", {"document": file_id, "caption": caption}


# what the Bot API takes as a photo upload (larger or odd-shaped ones go as documents)
PHOTO_UPLOAD_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_SIDES = 10_000
PHOTO_MAX_RATIO = 20


def upload_send(item: dict, caption: str) -> tuple[str, dict] | None:
    """The Bot API method and payload that upload a file of ours (an attachment from
    chats.services.uploads, "upload_id") from disk: photos with sendPhoto when Telegram
    takes them as photos, anything else with sendDocument. None when the file is gone.
    The outbox row keeps the path, never the bytes (outbox.sending opens it)."""
    found = upload_file_path(upload_id=item.get("upload_id"))
    if found is None:
        return None
    path, upload = found
    width, height = upload.width or 0, upload.height or 0
    as_photo = (
        upload.kind == AttachmentKind.PHOTO
        and upload.content_type != "image/gif"
        and upload.size <= PHOTO_UPLOAD_MAX_BYTES
        and 0 < width + height <= PHOTO_MAX_SIDES
        and max(width, height) <= PHOTO_MAX_RATIO * min(width, height)
    )
    if as_photo:
        return "sendPhoto", {"photo_path": path, "caption": caption}
    return "sendDocument", {
        "document_path": path,
        "file_name": upload.file_name,
        "caption": caption,
    }


def media_takes_caption(item: dict) -> bool:
    return item.get("telegram_type") not in NO_CAPTION


def album_type(item: dict) -> str | None:
    if item.get("kind") == AttachmentKind.PHOTO:
        return "photo"
    return ALBUM_TYPES.get(item.get("telegram_type") or "document")


# the bot whose update is being handled (telegram_bridge.services.updates sets it), so
# what the handling sends to its chat's dialogs needs no read of the bot again
_bot_at_work: ContextVar[TelegramBot | None] = ContextVar("telegram_bot_at_work", default=None)


@contextmanager
def bot_at_work(bot: TelegramBot) -> Iterator[None]:
    token = _bot_at_work.set(bot)
    try:
        yield
    finally:
        _bot_at_work.reset(token)


def bot_of_chat(chat_id: int, *, chat: Chat | None = None) -> TelegramBot | None:
    """The chat's bot: the one at work when it is this chat's, the one loaded with
    `chat` (select_related "telegram_bot", as handoff's request_lock does), else read."""
    bot = _bot_at_work.get()
    if bot is not None and bot.chat_id == chat_id:
        return bot
    if chat is not None and Chat.telegram_bot.is_cached(chat):
        return getattr(chat, "telegram_bot", None)  # None: the chat has no bot
    return TelegramBot.objects.filter(chat_id=chat_id).first()


def bot_of_dialog(dialog: Dialog) -> TelegramBot | None:
    return bot_of_chat(dialog.chat_id, chat=dialog.chat if Dialog.chat.is_cached(dialog) else None)


def dialog_of_message(message: Message) -> Dialog:
    """The message's dialog with its chat and client: the instance the message was
    posted with when it has them (an update's handling), else read."""
    if Message.dialog.is_cached(message):
        dialog = message.dialog
        if Dialog.chat.is_cached(dialog) and Dialog.client.is_cached(dialog):
            return dialog
    return Dialog.objects.select_related("chat", "client").get(pk=message.dialog_id)


def chat_id_of(dialog: Dialog) -> int:
    return int(dialog.client.external_id)


def client_send(
    bot: TelegramBot,
    dialog: Dialog,
    payload: dict,
    *,
    message_id: int | None = None,
    method: str | None = None,
) -> OutboundMessage:
    return outbound_enqueue(
        bot=bot,
        telegram_chat_id=chat_id_of(dialog),
        method=method or "sendMessage",
        payload=payload,
        purpose=SendPurpose.CLIENT,
        message_id=message_id,
    )


def client_say(bot: TelegramBot, chat_id: int, text: str) -> None:
    outbound_enqueue(
        bot=bot,
        telegram_chat_id=chat_id,
        method="sendMessage",
        payload={"text": text},
        purpose=SendPurpose.CLIENT,
    )


def album_send(
    bot: TelegramBot, dialog: Dialog, item: dict, caption: str, *, message_id: int | None
) -> OutboundMessage:
    """An album's item (an operator's, from a topic) joins the pending sendMediaGroup of
    its first item while that still waits, so the client gets an album."""
    entry = {"type": album_type(item), "media": item["telegram_file_id"]}
    if caption.strip():
        entry["caption"] = caption[:1024]
    chat_id = chat_id_of(dialog)
    row = album_row_waiting(
        bot_id=bot.pk,
        telegram_chat_id=chat_id,
        method="sendMediaGroup",
        media_group=item["media_group"],
    )
    if row is not None and len(row.payload["media"]) < 10:
        if item.get("album_uncaptioned"):
            # a later item has no caption of its own: its placeholder ("Olga: 📷") stays
            # off the album, so the caption written on the first item is the album's
            entry.pop("caption", None)
        row.payload["media"].append(entry)
        row.save(update_fields=["payload"])
        return row
    row = client_send(
        bot,
        dialog,
        {"media": [entry], "media_group": item["media_group"]},
        method="sendMediaGroup",
        message_id=message_id,
    )
    album_wait(row)
    return row
