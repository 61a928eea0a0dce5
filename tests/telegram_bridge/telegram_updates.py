"""Telegram Update JSON as the Bot API posts it to a webhook, for tests.

    client.post(webhook_url, text_update(1, user_id=5, text="/start abc"), content_type=...)
    Update.de_json(callback_update(2, user_id=5, data="take:7"), bot)

`message_id` defaults to `update_id`; `date` is now. Field sets follow what Telegram
actually sends (optional fields are omitted rather than null).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

BOT_ID = 7000000001
BOT_USERNAME = "baton_bot"
BOT_FIRST_NAME = "Baton"


def _now() -> int:
    return int(time.time())


def _unique_id(file_id: str) -> str:
    return "AQAD" + hashlib.sha1(file_id.encode()).hexdigest()[:12]  # noqa: S324


def user(user_id: int, first_name: str = "Ann", username: str | None = None) -> dict[str, Any]:
    person: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        person["username"] = username
    person["language_code"] = "en"
    return person


def bot_user(
    bot_id: int = BOT_ID, username: str = BOT_USERNAME, first_name: str = BOT_FIRST_NAME
) -> dict[str, Any]:
    return {"id": bot_id, "is_bot": True, "first_name": first_name, "username": username}


def private_chat(
    user_id: int, first_name: str = "Ann", username: str | None = None
) -> dict[str, Any]:
    chat: dict[str, Any] = {"id": user_id, "first_name": first_name}
    if username:
        chat["username"] = username
    chat["type"] = "private"
    return chat


def group_chat(chat_id: int, title: str = "Support group") -> dict[str, Any]:
    return {"id": chat_id, "title": title, "type": "supergroup"}


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram attaches when a message starts with a command."""
    if not text.startswith("/") or len(text) < 2:
        return []
    command = text.split(maxsplit=1)[0]
    length = len(command.encode("utf-16-le")) // 2  # entity offsets count UTF-16 code units
    return [{"offset": 0, "length": length, "type": "bot_command"}]


def _message(
    message_id: int, sender: dict[str, Any], chat: dict[str, Any], **content: Any
) -> dict[str, Any]:
    return {"message_id": message_id, "from": sender, "chat": chat, "date": _now(), **content}


def _text_content(text: str) -> dict[str, Any]:
    content: dict[str, Any] = {"text": text}
    if entities := command_entities(text):
        content["entities"] = entities
    return content


def text_update(
    update_id: int,
    *,
    user_id: int,
    text: str,
    first_name: str = "Ann",
    username: str | None = None,
    message_id: int | None = None,
) -> dict[str, Any]:
    message = _message(
        update_id if message_id is None else message_id,
        user(user_id, first_name, username),
        private_chat(user_id, first_name, username),
        **_text_content(text),
    )
    return {"update_id": update_id, "message": message}


def photo_sizes(file_id: str) -> list[dict[str, Any]]:
    """Thumbnail to full size, as Telegram lists them; the largest carries `file_id`."""
    sizes = [(90, 68, 1_300, "s"), (320, 240, 14_500, "m"), (800, 600, 61_000, "x")]
    listed = [
        {
            "file_id": f"{file_id}-{suffix}",
            "file_unique_id": _unique_id(f"{file_id}-{suffix}"),
            "file_size": size,
            "width": width,
            "height": height,
        }
        for width, height, size, suffix in sizes
    ]
    listed.append(
        {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "file_size": 148_000,
            "width": 1280,
            "height": 960,
        }
    )
    return listed


def photo_update(
    update_id: int,
    *,
    user_id: int,
    file_id: str,
    caption: str = "",
    first_name: str = "Ann",
    message_id: int | None = None,
) -> dict[str, Any]:
    content: dict[str, Any] = {"photo": photo_sizes(file_id)}
    if caption:
        content["caption"] = caption
    message = _message(
        update_id if message_id is None else message_id,
        user(user_id, first_name),
        private_chat(user_id, first_name),
        **content,
    )
    return {"update_id": update_id, "message": message}


def document_update(
    update_id: int,
    *,
    user_id: int,
    file_id: str,
    file_name: str = "report.pdf",
    mime_type: str = "application/pdf",
    caption: str = "",
    first_name: str = "Ann",
    message_id: int | None = None,
    file_size: int = 52_431,
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "document": {
            "file_name": file_name,
            "mime_type": mime_type,
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "file_size": file_size,
        }
    }
    if caption:
        content["caption"] = caption
    message = _message(
        update_id if message_id is None else message_id,
        user(user_id, first_name),
        private_chat(user_id, first_name),
        **content,
    )
    return {"update_id": update_id, "message": message}


def callback_update(
    update_id: int,
    *,
    user_id: int,
    data: str,
    message_id: int = 1,
    chat_id: int | None = None,
    first_name: str = "Ann",
    bot_id: int = BOT_ID,
    bot_username: str = BOT_USERNAME,
    message_text: str = "Choose:",
) -> dict[str, Any]:
    """A button press on the bot's message `message_id` (whose keyboard holds `data`)."""
    if chat_id is None or chat_id == user_id:
        chat = private_chat(user_id, first_name)
    else:
        chat = group_chat(chat_id)
    message = _message(
        message_id,
        bot_user(bot_id, bot_username),
        chat,
        text=message_text,
        reply_markup={"inline_keyboard": [[{"text": data, "callback_data": data}]]},
    )
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(4_000_000_000_000_000_000 + update_id),
            "from": user(user_id, first_name),
            "message": message,
            "chat_instance": str(-8_000_000_000_000_000_000 + abs(chat["id"])),
            "data": data,
        },
    }


def _my_chat_member_update(
    update_id: int,
    *,
    user_id: int,
    bot_id: int,
    old_status: str,
    new_status: str,
    first_name: str,
    bot_username: str,
) -> dict[str, Any]:
    bot = bot_user(bot_id, bot_username)
    new_member: dict[str, Any] = {"user": bot, "status": new_status}
    if new_status == "kicked":
        new_member["until_date"] = 0  # forever
    old_member: dict[str, Any] = {"user": bot, "status": old_status}
    if old_status == "kicked":
        old_member["until_date"] = 0
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": private_chat(user_id, first_name),
            "from": user(user_id, first_name),
            "date": _now(),
            "old_chat_member": old_member,
            "new_chat_member": new_member,
        },
    }


def blocked_update(
    update_id: int,
    *,
    user_id: int,
    bot_id: int,
    first_name: str = "Ann",
    bot_username: str = BOT_USERNAME,
) -> dict[str, Any]:
    """The user blocked the bot (private chat member status member -> kicked)."""
    return _my_chat_member_update(
        update_id,
        user_id=user_id,
        bot_id=bot_id,
        old_status="member",
        new_status="kicked",
        first_name=first_name,
        bot_username=bot_username,
    )


def unblocked_update(
    update_id: int,
    *,
    user_id: int,
    bot_id: int,
    first_name: str = "Ann",
    bot_username: str = BOT_USERNAME,
) -> dict[str, Any]:
    """The user unblocked / restarted the bot (kicked -> member)."""
    return _my_chat_member_update(
        update_id,
        user_id=user_id,
        bot_id=bot_id,
        old_status="kicked",
        new_status="member",
        first_name=first_name,
        bot_username=bot_username,
    )


def group_text_update(
    update_id: int,
    *,
    chat_id: int,
    user_id: int,
    text: str,
    first_name: str = "Ann",
    title: str = "Support group",
    message_id: int | None = None,
) -> dict[str, Any]:
    message = _message(
        update_id if message_id is None else message_id,
        user(user_id, first_name),
        group_chat(chat_id, title),
        **_text_content(text),
    )
    return {"update_id": update_id, "message": message}
