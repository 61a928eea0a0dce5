"""Telegram users as clients: what they write reaches the bot engine and handoff like
a web visitor's frames; what the bot, operators and the system write to them goes out
through the outbox (the `OutboundChannel` registered for Telegram)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Dialog, Feedback, Message
from chats.registries import HandoffRefused, HandoffUnavailable, handoff_entry
from chats.services import (
    DialogClosed,
    UnknownButton,
    bot_button_press,
    bot_greet,
    dialog_receive_client_message,
    dialog_start_or_resume,
    message_post,
)
from handoff.services import FormInvalid, form_answer_check
from telegram_bridge.models import FormKind, FormProgress, SendPurpose, TelegramBot
from telegram_bridge.services.outbox import keyboard, outbound_enqueue

MEDIA_KINDS = ("photo", "document")


@dataclass(frozen=True)
class TelegramUser:
    id: int
    first_name: str = ""
    last_name: str = ""
    username: str = ""

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)[:200]


def _bot_of(dialog: Dialog) -> TelegramBot | None:
    return TelegramBot.objects.filter(chat_id=dialog.chat_id).first()


def _chat_id(dialog: Dialog) -> int:
    return int(dialog.client.external_id)


def _send(bot: TelegramBot, dialog: Dialog, payload: dict, *, message_id=None, method=None):
    return outbound_enqueue(
        bot=bot,
        telegram_chat_id=_chat_id(dialog),
        method=method or "sendMessage",
        payload=payload,
        purpose=SendPurpose.CLIENT,
        message_id=message_id,
    )


def _say(bot: TelegramBot, chat_id: int, text: str) -> None:
    outbound_enqueue(
        bot=bot,
        telegram_chat_id=chat_id,
        method="sendMessage",
        payload={"text": text},
        purpose=SendPurpose.CLIENT,
    )


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


# --- forms, question by question ------------------------------------------------------


def _contact_fields(values: dict | None = None) -> list[dict]:
    """The contact form's two questions. `values` is what the visitor typed about
    themselves in the pre-handoff form (the contact_form attachment's "values"): each
    question offers it as a button (`suggestions`), so they need not type it again."""
    values = values or {}
    name = str(values.get("name") or "").strip()
    contacts = [str(values.get(key) or "").strip() for key in ("phone", "email")]
    return [
        {
            "id": "name",
            "label": _("Your name?"),
            "kind": "text",
            "required": False,
            "choices": [],
            "suggestions": [name] if name else [],
        },
        {
            "id": "contact",
            "label": _("Your phone number or e-mail?"),
            "kind": "contact",
            "required": True,
            "choices": [],
            "suggestions": [value for value in contacts if value],
        },
    ]


SUGGESTION_LABEL_MAX = 40


def _ask(bot: TelegramBot, dialog: Dialog, progress: FormProgress, problem: str = "") -> None:
    field = progress.current_field
    total = len(progress.fields)
    with override(dialog.chat.language):
        text = f"({progress.position + 1}/{total}) {field['label']}"
        if problem:
            text = f"{problem}\n{text}"
        rows = [
            [{"text": choice, "callback_data": f"f:{progress.position}:{index}"}]
            for index, choice in enumerate(field.get("choices") or [])
        ]
        suggestions = field.get("suggestions") or []
        if suggestions:
            text += "\n" + _("Tap what you wrote before to use it, or type another answer.")
        rows += [
            [
                {
                    "text": _("Use “%(value)s”") % {"value": _shortened(value)},
                    "callback_data": f"f:{progress.position}:u{index}",
                }
            ]
            for index, value in enumerate(suggestions)
        ]
        if not field.get("required"):
            rows.append([{"text": _("Skip"), "callback_data": f"f:{progress.position}:skip"}])
    payload: dict = {"text": text}
    if rows:
        payload["keyboard"] = keyboard(rows)
    _send(bot, dialog, payload)


def _shortened(value: str) -> str:
    if len(value) <= SUGGESTION_LABEL_MAX:
        return value
    return value[: SUGGESTION_LABEL_MAX - 1] + "…"


def _form_start(bot: TelegramBot, dialog: Dialog, kind: str, fields: list[dict]) -> None:
    progress, _created = FormProgress.objects.update_or_create(
        dialog=dialog, defaults={"kind": kind, "fields": fields, "answers": {}, "position": 0}
    )
    if progress.fields:
        _ask(bot, dialog, progress)


def _form_answer(bot: TelegramBot, dialog: Dialog, progress: FormProgress, raw: str) -> None:
    """One answer: checked, stored, then the next question or the form is submitted."""
    field = progress.current_field
    language = dialog.chat.language
    if progress.kind == FormKind.HANDOFF:
        try:
            value = form_answer_check(dialog=dialog, field_id=field["id"], raw=raw)
        except FormInvalid as error:
            _ask(bot, dialog, progress, problem=next(iter(error.errors.values())))
            return
    else:
        value = raw.strip()[:254]
        if field["required"] and not value:
            with override(language):
                _ask(bot, dialog, progress, problem=_("This question needs an answer."))
            return
    progress.answers[str(field["id"])] = value
    progress.position += 1
    if progress.current_field is not None:
        progress.save(update_fields=["answers", "position"])
        _ask(bot, dialog, progress)
        return
    answers = progress.answers
    try:
        with transaction.atomic():
            if progress.kind == FormKind.HANDOFF:
                handoff_entry.handler.submit_form(dialog=dialog, answers=answers)
            else:
                contact = answers.get("contact", "")
                key = "email" if "@" in contact else "phone"
                handoff_entry.handler.submit_contact(
                    dialog=dialog, answers={"name": answers.get("name", ""), key: contact}
                )
            progress.delete()
    except HandoffRefused as refusal:
        if refusal.code == FormInvalid.code:
            # an answer to fix: the last question again, with the problem
            progress.position -= 1
            progress.save(update_fields=["answers", "position"])
            _ask(bot, dialog, progress, problem=refusal.detail)
            return
        # final (answered already, no form waiting, no person offered): the form is
        # over, and the client's next message is a message again
        progress.delete()
        _say(bot, _chat_id(dialog), refusal.detail)


# --- outbound: the channel chats calls inside message_post ------------------------------


class TelegramChannel:
    """Registered with chats.registries.outbound_channels for Messenger.TELEGRAM."""

    def deliver(self, message: Message) -> None:
        dialog = Dialog.objects.select_related("chat", "client").get(pk=message.dialog_id)
        bot = _bot_of(dialog)
        if bot is None:
            return
        text = message.text
        if message.author_kind == AuthorKind.OPERATOR and message.author_name:
            text = f"{message.author_name}: {text}"
        media = [item for item in message.attachments if item.get("kind") in MEDIA_KINDS]
        forms = [item for item in message.attachments if item.get("kind") not in MEDIA_KINDS]
        rating = next((item for item in forms if item.get("kind") == "rating"), None)
        rows = _button_rows(message)
        if rating is not None:
            rows += _rating_rows(rating)
        for item in media:
            if item.get("bot") == bot.pk and item.get("telegram_file_id"):
                method = "sendPhoto" if item["kind"] == "photo" else "sendDocument"
                field = "photo" if item["kind"] == "photo" else "document"
                _send(
                    bot,
                    dialog,
                    {field: item["telegram_file_id"], "caption": text},
                    method=method,
                    message_id=message.pk,
                )
                text = ""
        if text.strip() or rows:
            payload: dict = {"text": text or "…"}
            if rows:
                payload["keyboard"] = keyboard(rows)
            _send(bot, dialog, payload, message_id=message.pk)
        for item in forms:
            if item.get("kind") == "handoff_form":
                _form_start(bot, dialog, FormKind.HANDOFF, item.get("fields") or [])
            elif item.get("kind") == "contact_form":
                values = item.get("values") if isinstance(item.get("values"), dict) else {}
                with override(dialog.chat.language):
                    _form_start(bot, dialog, FormKind.CONTACT, _contact_fields(values))

    def headset_revealed(self, dialog: Dialog) -> None:
        dialog = Dialog.objects.select_related("chat", "client").get(pk=dialog.pk)
        bot = _bot_of(dialog)
        if bot is None:
            return
        with override(dialog.chat.language):
            payload = {
                "text": _("Would you like to talk to a person?"),
                "keyboard": [[{"text": _("Talk to a person"), "callback_data": "h"}]],
            }
        _send(bot, dialog, payload)


# --- inbound: what a Telegram client does ----------------------------------------------


def _dialog(bot: TelegramBot, chat_id: int, user: TelegramUser) -> tuple[Dialog, bool]:
    dialog, created = dialog_start_or_resume(
        chat=bot.chat, messenger=Messenger.TELEGRAM, external_id=str(chat_id), name=user.name
    )
    dialog.chat = bot.chat
    return dialog, created


def client_message_receive(
    *,
    bot: TelegramBot,
    update_id: int,
    chat_id: int,
    user: TelegramUser,
    text: str,
    command: str | None = None,
    attachments: list[dict] | None = None,
) -> None:
    """A Telegram client wrote. Idempotent per update: the update id is the message's
    client_msg_id, so a replayed update is stored once and answered once."""
    client_msg_id = f"tg:{update_id}"
    language = bot.chat.language
    with transaction.atomic():
        dialog, created = _dialog(bot, chat_id, user)
        progress = FormProgress.objects.filter(dialog=dialog).first()
        if command == "start":
            if not created:
                bot_greet(dialog=dialog)
            return
        if command in ("human", "operator"):
            return _client_asks_for_human(bot, dialog, chat_id, reason="command")
        if command == "end":
            try:
                handoff_entry.handler.close_by_client(dialog=dialog)
            except (HandoffRefused, HandoffUnavailable):
                with override(language):
                    _say(bot, chat_id, _("There is no conversation with an operator to end."))
            return
        if progress is not None and dialog.status != DialogStatus.BOT:
            progress.delete()  # an operator has the dialog now: messages are the talk
            progress = None
        if progress is not None and command == "cancel":
            progress.delete()
            with override(language):
                _say(bot, chat_id, _("The form was cancelled."))
            return
        if progress is not None and progress.current_field is not None:
            _message, stored = message_post(
                dialog=dialog,
                author_kind=AuthorKind.CLIENT,
                text=text or "…",
                client_msg_id=client_msg_id,
            )
            if stored:
                _form_answer(bot, dialog, progress, text)
            return
        try:
            dialog_receive_client_message(
                dialog=dialog,
                text=text or "…",
                client_msg_id=client_msg_id,
                attachments=attachments,
            )
        except DialogClosed:
            return


def _client_asks_for_human(bot: TelegramBot, dialog: Dialog, chat_id: int, *, reason: str) -> None:
    FormProgress.objects.filter(dialog=dialog, kind=FormKind.CONTACT).delete()
    with override(dialog.chat.language):
        # handoff's request_reason_check is the one rule (the headset shown or not)
        try:
            handoff_entry.handler.open_request(dialog=dialog, reason=reason)
        except HandoffRefused as refusal:
            if refusal.code == "handoff_unavailable":
                _say(bot, chat_id, _("This chat connects you to a person when the bot offers it."))
            else:
                _say(bot, chat_id, _("No operator can be asked now."))
        except (HandoffUnavailable, DialogClosed):
            _say(bot, chat_id, _("No operator can be asked now."))


def client_callback_receive(
    *,
    bot: TelegramBot,
    update_id: int,
    chat_id: int,
    user: TelegramUser,
    data: str,
    message_id: int | None,
) -> None:
    """A Telegram client pressed an inline button: a script button (b:), a rating (r:),
    a form option (f:) or "talk to a person" (h)."""
    with transaction.atomic():
        dialog, _created = _dialog(bot, chat_id, user)
        language = dialog.chat.language
        kind, _sep, rest = data.partition(":")
        if kind == "b" and rest.isdigit():
            try:
                bot_button_press(
                    dialog=dialog, button_id=int(rest), client_msg_id=f"tg:{update_id}"
                )
            except UnknownButton:
                with override(language):
                    _say(bot, chat_id, _("This button is no longer available."))
            except DialogClosed:
                return
        elif kind == "r":
            _client_rates(bot, dialog, chat_id, rest, message_id)
        elif kind == "f":
            # f:<question position>:<option index | skip | u<suggestion index>>; a
            # button of a question answered before does nothing
            position, _sep, rest = rest.partition(":")
            progress = FormProgress.objects.filter(dialog=dialog).first()
            field = progress.current_field if progress else None
            if field is None or position != str(progress.position):
                return
            if rest == "skip" and not field.get("required"):
                answer = ""
            elif rest.isdigit() and int(rest) < len(field.get("choices") or []):
                answer = field["choices"][int(rest)]
            elif (
                rest[:1] == "u"
                and rest[1:].isdigit()
                and int(rest[1:]) < len(field.get("suggestions") or [])
            ):
                answer = field["suggestions"][int(rest[1:])]
            else:
                return
            _message, stored = message_post(
                dialog=dialog,
                author_kind=AuthorKind.CLIENT,
                text=answer or "—",
                client_msg_id=f"tg:{update_id}",
            )
            if stored:
                _form_answer(bot, dialog, progress, answer)
        elif kind == "h":
            _client_asks_for_human(bot, dialog, chat_id, reason="headset")


def _client_rates(
    bot: TelegramBot, dialog: Dialog, chat_id: int, rest: str, message_id: int | None
) -> None:
    request_text, _sep, score_text = rest.partition(":")
    if not (request_text.isdigit() and score_text.isdigit()):
        return
    with override(dialog.chat.language):
        try:
            handoff_entry.handler.rate(
                dialog=dialog, request_id=int(request_text), score=int(score_text)
            )
        except HandoffRefused as refusal:
            _say(bot, chat_id, refusal.detail)
            return
        stored = (
            Feedback.objects.filter(dialog=dialog, handoff_request_id=int(request_text))
            .values_list("score", flat=True)
            .first()
        )
        if message_id is not None and stored is not None:
            outbound_enqueue(
                bot=bot,
                telegram_chat_id=chat_id,
                method="editMessageText",
                payload={
                    "text": _("Thank you for your rating: %(score)s of %(scale)s.")
                    % {"score": stored, "scale": dialog.chat.feedback_scale},
                    "message_id": message_id,
                },
                purpose=SendPurpose.CLIENT,
            )
