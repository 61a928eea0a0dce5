"""What a Telegram client does: writes (a message, a command, a form answer) and taps
inline buttons (a script button, a rating, a form option, "talk to a person"). It
reaches the bot engine and handoff like a web visitor's frames."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Dialog
from chats.services import (
    DialogClosed,
    UnknownButton,
    bot_button_press,
    bot_greet,
    dialog_receive_client_message,
    dialog_start_or_resume,
    message_post,
)
from handoff.models import Feedback
from handoff.services import (
    HandoffError,
    HandoffNotOffered,
    client_close,
    request_open,
    request_rate,
)
from telegram_bridge.models import FormKind, FormProgress, SendPurpose, TelegramBot
from telegram_bridge.services.callback_numbers import callback_number
from telegram_bridge.services.clients.forms import form_answer
from telegram_bridge.services.clients.sending import client_say
from telegram_bridge.services.group.topics import keyword_said, topic_activate
from telegram_bridge.services.outbox import outbound_enqueue


@dataclass(frozen=True)
class TelegramUser:
    id: int
    first_name: str = ""
    last_name: str = ""
    username: str = ""

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)[:200]


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
    with transaction.atomic(savepoint=False):
        dialog, created = _dialog(bot, chat_id, user)
        progress = FormProgress.objects.filter(dialog=dialog).first()
        if command == "start":
            if not created:
                bot_greet(dialog=dialog)
            return
        if bot.forum_group_id and bot.keywords_required and keyword_said(bot, text, command):
            # the keyword opens the client to the group and asks for a person; the
            # message itself is then stored and copied into the topic as usual
            topic_activate(bot=bot, client=dialog.client)
            _client_asks_for_human(bot, dialog, chat_id, reason="command")
        if command in ("human", "operator"):
            return _client_asks_for_human(bot, dialog, chat_id, reason="command")
        if command == "end":
            try:
                client_close(dialog=dialog)
            except HandoffError:
                with override(language):
                    client_say(bot, chat_id, _("There is no conversation with an operator to end."))
            return
        if progress is not None and dialog.status != DialogStatus.BOT:
            progress.delete()  # an operator has the dialog now: messages are the talk
            progress = None
        if progress is not None and command == "cancel":
            progress.delete()
            with override(language):
                client_say(bot, chat_id, _("The form was cancelled."))
            return
        if progress is not None and progress.current_field is not None:
            _message, stored = message_post(
                dialog=dialog,
                author_kind=AuthorKind.CLIENT,
                text=text or "…",
                client_msg_id=client_msg_id,
            )
            if stored:
                form_answer(bot, dialog, progress, text)
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
            request_open(dialog=dialog, reason=reason)
        except HandoffNotOffered:
            client_say(
                bot, chat_id, _("This chat connects you to a person when the bot offers it.")
            )
        except DialogClosed:
            client_say(bot, chat_id, _("No operator can be asked now."))


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
    with transaction.atomic(savepoint=False):
        dialog, _created = _dialog(bot, chat_id, user)
        language = dialog.chat.language
        kind, _sep, rest = data.partition(":")
        button_id = callback_number(rest) if kind == "b" else None
        if button_id is not None:
            try:
                bot_button_press(
                    dialog=dialog, button_id=button_id, client_msg_id=f"tg:{update_id}"
                )
            except UnknownButton:
                with override(language):
                    client_say(bot, chat_id, _("This button is no longer available."))
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
            choice = callback_number(rest)
            suggestion = callback_number(rest[1:]) if rest[:1] == "u" else None
            choices = field.get("choices") or []
            suggestions = field.get("suggestions") or []
            if rest == "skip" and not field.get("required"):
                answer = ""
            elif choice is not None and choice < len(choices):
                answer = choices[choice]
            elif suggestion is not None and suggestion < len(suggestions):
                answer = suggestions[suggestion]
            else:
                return
            _message, stored = message_post(
                dialog=dialog,
                author_kind=AuthorKind.CLIENT,
                text=answer or "—",
                client_msg_id=f"tg:{update_id}",
            )
            if stored:
                form_answer(bot, dialog, progress, answer)
        elif kind == "h":
            _client_asks_for_human(bot, dialog, chat_id, reason="headset")


def _client_rates(
    bot: TelegramBot, dialog: Dialog, chat_id: int, rest: str, message_id: int | None
) -> None:
    request_text, _sep, score_text = rest.partition(":")
    request_id, score = callback_number(request_text), callback_number(score_text)
    if request_id is None or score is None:
        return
    with override(dialog.chat.language):
        try:
            request_rate(dialog=dialog, request_id=request_id, score=score)
        except HandoffError as refusal:
            client_say(bot, chat_id, refusal.detail)
            return
        stored = (
            Feedback.objects.filter(dialog=dialog, request_id=int(request_text))
            .values_list("score", "scale")
            .first()
        )
        if message_id is not None and stored is not None:
            outbound_enqueue(
                bot=bot,
                telegram_chat_id=chat_id,
                method="editMessageText",
                payload={
                    "text": _("Thank you for your rating: %(score)s of %(scale)s.")
                    % {"score": stored[0], "scale": stored[1]},
                    "message_id": message_id,
                },
                purpose=SendPurpose.CLIENT,
            )
