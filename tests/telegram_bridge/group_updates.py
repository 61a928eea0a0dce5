"""Updates of the backend group's topics and of clients' media, as Telegram sends them."""

from __future__ import annotations

from typing import Any

from tests.telegram_bridge.telegram_updates import (
    _message,
    _text_content,
    group_chat,
    photo_sizes,
    private_chat,
    user,
)

GROUP = -1009876543210


def topic_update(
    update_id: int,
    *,
    thread_id: int | None,
    user_id: int,
    text: str | None = None,
    first_name: str = "Olga",
    message_id: int | None = None,
    group_id: int = GROUP,
    media_group_id: str | None = None,
    photo: str | None = None,
    sticker: str | None = None,
    voice: str | None = None,
    is_bot: bool = False,
    edited: bool = False,
) -> dict[str, Any]:
    sender = user(user_id, first_name)
    sender["is_bot"] = is_bot
    content: dict[str, Any] = {}
    if text is not None and photo is None:
        content.update(_text_content(text))
    if photo is not None:
        content["photo"] = photo_sizes(photo)
        if text:
            content["caption"] = text
    if sticker is not None:
        content["sticker"] = {
            "file_id": sticker,
            "file_unique_id": sticker[:8],
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "😀",
        }
    if voice is not None:
        content["voice"] = {"file_id": voice, "file_unique_id": voice[:8], "duration": 3}
    if media_group_id:
        content["media_group_id"] = media_group_id
    if thread_id is not None:
        content["message_thread_id"] = thread_id
        content["is_topic_message"] = True
    message = _message(
        update_id if message_id is None else message_id, sender, group_chat(group_id), **content
    )
    if edited:
        message["edit_date"] = message["date"]
        return {"update_id": update_id, "edited_message": message}
    return {"update_id": update_id, "message": message}


def client_media_update(
    update_id: int,
    *,
    user_id: int,
    message_id: int | None = None,
    photo: str | None = None,
    caption: str | None = None,
    media_group_id: str | None = None,
    voice: str | None = None,
    sticker: str | None = None,
) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if sticker:
        content["sticker"] = {
            "file_id": sticker,
            "file_unique_id": sticker[:8],
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "😀",
        }
    if photo:
        content["photo"] = photo_sizes(photo)
    if voice:
        content["voice"] = {"file_id": voice, "file_unique_id": voice[:8], "duration": 2}
    if caption:
        content["caption"] = caption
    if media_group_id:
        content["media_group_id"] = media_group_id
    message = _message(
        update_id if message_id is None else message_id,
        user(user_id),
        private_chat(user_id),
        **content,
    )
    return {"update_id": update_id, "message": message}


def client_edit_update(
    update_id: int, *, user_id: int, message_id: int, text: str
) -> dict[str, Any]:
    message = _message(message_id, user(user_id), private_chat(user_id), text=text)
    message["edit_date"] = message["date"]
    return {"update_id": update_id, "edited_message": message}
