"""Photos and documents sent through Telegram. Telegram keeps the file; a message keeps
its file_id and a signed address of ours that fetches it, so a web visitor or the
console can show it without the bot token ever reaching a browser."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from django.core import signing
from django.urls import reverse

from telegram_bridge.models import TelegramBot
from telegram_bridge.runtime import bot_for_token, telegram_runtime

SALT = "telegram-file"
MAX_AGE = 90 * 24 * 3600  # seconds a link stays valid
MAX_BYTES = 20 * 1024 * 1024  # the Bot API's own download limit


class FileUnavailable(Exception):
    """The link is forged or too old, or Telegram no longer has the file."""


@dataclass(frozen=True)
class TelegramFile:
    content: bytes
    kind: str
    file_name: str
    mime_type: str


def media_attachment(
    *, bot_id: int, kind: str, file_id: str, file_name: str = "", mime_type: str = ""
) -> dict:
    """The attachment a message carries for a Telegram photo or document."""
    signed = signing.dumps(
        {"b": bot_id, "f": file_id, "k": kind, "n": file_name, "m": mime_type}, salt=SALT
    )
    return {
        "kind": kind,
        "telegram_file_id": file_id,
        "bot": bot_id,
        "file_name": file_name,
        "mime_type": mime_type,
        "url": reverse("telegram_bridge:file", kwargs={"signed": signed}),
    }


async def _download(token: str, file_id: str) -> bytes:
    async with bot_for_token(token) as bot:
        telegram_file = await bot.get_file(file_id)
        if telegram_file.file_size and telegram_file.file_size > MAX_BYTES:
            raise FileUnavailable("the file is too large")
        return bytes(await telegram_file.download_as_bytearray())


def file_fetch(*, signed: str) -> TelegramFile:
    try:
        data = signing.loads(signed, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        raise FileUnavailable("unknown file") from None
    bot = TelegramBot.objects.filter(pk=data.get("b")).only("token").first()
    if bot is None:
        raise FileUnavailable("unknown file")
    try:
        content = telegram_runtime.run(partial(_download, bot.token, data["f"]), timeout=60)
    except FileUnavailable:
        raise
    except Exception as error:  # Telegram refused or is away
        raise FileUnavailable(f"Telegram did not return the file: {error}") from None
    return TelegramFile(
        content=content,
        kind=data.get("k", ""),
        file_name=data.get("n", ""),
        mime_type=data.get("m", ""),
    )
