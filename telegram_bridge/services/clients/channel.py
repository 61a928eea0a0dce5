"""The outbound channel registered for Telegram (chats.registries.outbound_channels):
what the bot, operators and the system write in a Telegram dialog goes out through
the outbox, with script buttons and the rating as inline keyboards."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AttachmentKind, AuthorKind
from chats.models import Dialog, Message
from telegram_bridge.models import FormKind
from telegram_bridge.services.clients.forms import contact_fields, form_start
from telegram_bridge.services.clients.sending import (
    MEDIA_KINDS,
    album_send,
    album_type,
    bot_of_dialog,
    client_send,
    dialog_of_message,
    media_send,
    media_takes_caption,
    upload_send,
)
from telegram_bridge.services.outbox import keyboard
from telegram_bridge.services.outbox.writing import CAPTION_LIMIT


def _button_rows(message: Message) -> list[list[dict]]:
    rows = []
    for button in message.buttons:
        if button.get("url"):
            rows.append([{"text": button["label"], "url": button["url"]}])
        else:
            rows.append([{"text": button["label"], "callback_data": f"b:{button['id']}"}])
    return rows


def _rating_rows(attachment: dict) -> list[list[dict]]:
    scores = [
        {"text": str(score), "callback_data": f"r:{attachment['request']}:{score}"}
        for score in range(1, attachment["scale"] + 1)
    ]
    return [scores[index : index + 5] for index in range(0, len(scores), 5)]


class TelegramChannel:
    """Registered with chats.registries.outbound_channels for Messenger.TELEGRAM."""

    def deliver(self, message: Message) -> None:
        dialog = dialog_of_message(message)
        bot = bot_of_dialog(dialog)
        if bot is None:
            return
        text = message.text
        if message.author_kind == AuthorKind.OPERATOR and message.author_name:
            text = f"{message.author_name}: {text}"
        media = [item for item in message.attachments if item.get("kind") in MEDIA_KINDS]
        forms = [item for item in message.attachments if item.get("kind") not in MEDIA_KINDS]
        rating = next((item for item in forms if item.get("kind") == AttachmentKind.RATING), None)
        rows = _button_rows(message)
        if rating is not None:
            rows += _rating_rows(rating)
        for item in media:
            if item.get("bot") == bot.pk and item.get("telegram_file_id"):
                if not media_takes_caption(item) and text.strip():
                    client_send(bot, dialog, {"text": text}, message_id=message.pk)
                    text = ""
                if item.get("media_group") and album_type(item):
                    album_send(bot, dialog, item, text, message_id=message.pk)
                else:
                    method, payload = media_send(item, text)
                    client_send(bot, dialog, payload, method=method, message_id=message.pk)
                text = ""
            elif item.get("upload_id") is not None:
                # a file uploaded in the console or the widget: sent from our disk
                # no text: the caption says who sent it ("Olga"), not "Olga: "
                caption = text if message.text.strip() or not text else message.author_name
                if len(caption) > CAPTION_LIMIT:
                    # a caption holds 1024 characters: a longer text goes first, whole
                    client_send(bot, dialog, {"text": text}, message_id=message.pk)
                    text = caption = ""
                upload = upload_send(item, caption)
                if upload is not None:
                    method, payload = upload
                    client_send(bot, dialog, payload, method=method, message_id=message.pk)
                    text = ""
        if text.strip() or rows:
            payload: dict = {"text": text or "…"}
            if rows:
                payload["keyboard"] = keyboard(rows)
            client_send(bot, dialog, payload, message_id=message.pk)
        for item in forms:
            if item.get("kind") == AttachmentKind.HANDOFF_FORM:
                form_start(bot, dialog, FormKind.HANDOFF, item.get("fields") or [])
            elif item.get("kind") == AttachmentKind.CONTACT_FORM:
                values = item.get("values") if isinstance(item.get("values"), dict) else {}
                with override(dialog.chat.language):
                    form_start(bot, dialog, FormKind.CONTACT, contact_fields(values))

    def headset_revealed(self, dialog: Dialog) -> None:
        dialog = Dialog.objects.select_related("chat", "client").get(pk=dialog.pk)
        bot = bot_of_dialog(dialog)
        if bot is None:
            return
        with override(dialog.chat.language):
            payload = {
                "text": _("Would you like to talk to a person?"),
                "keyboard": [[{"text": _("Talk to a person"), "callback_data": "h"}]],
            }
        client_send(bot, dialog, payload)
