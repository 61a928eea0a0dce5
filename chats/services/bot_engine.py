"""The bot engine: runs scripts, matches keyword triggers, records markers and
asks handoff for a human at the connect-operator mark. Web and Telegram share it."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import override

from chats import selectors
from chats.enums import AuthorKind, DialogStatus
from chats.models import Dialog, MarkerHit, Message, Script
from chats.normalise import normalise_text
from chats.registries import handoff_entry
from chats.selectors import BotScript, ChatBot
from chats.services.messages import message_post


def _script_post(*, dialog: Dialog, bot: ChatBot, script: BotScript) -> list[Message]:
    posted: list[Message] = []
    # no savepoint of its own: an error here fails the caller's transaction anyway
    with transaction.atomic(savepoint=False):
        for step in script.steps:
            if step.text.strip():
                message, _created = message_post(
                    dialog=dialog,
                    author_kind=AuthorKind.BOT,
                    author_name=bot.name,
                    text=step.text,
                    buttons=[dict(button) for button in step.buttons],
                )
                posted.append(message)
            if step.marker:
                MarkerHit.objects.create(dialog=dialog, marker=step.marker)
            if step.connect_operator:
                handoff_entry.handler.open_request(dialog=dialog, reason="script")
                break
    return posted


def script_run(*, dialog: Dialog, script: Script) -> list[Message]:
    """Post every step of `script` as bot messages, in order.

    A marker is recorded when its step is reached; the connect-operator mark asks
    the handoff app to open a request and ends the script there. The steps come from
    the process's compiled copy of the chat's bot (one query reads its version).
    """
    bot = selectors.chat_bot_get(chat_id=dialog.chat_id)
    return _script_post(dialog=dialog, bot=bot, script=bot.scripts[script.pk])


def bot_greet(*, dialog: Dialog) -> list[Message]:
    """Run the chat's start script on a new dialog (nothing when it has none)."""
    bot = selectors.chat_bot_get(chat_id=dialog.chat_id)
    return _script_post(dialog=dialog, bot=bot, script=bot.start) if bot.start else []


def _matching(bot: ChatBot, text: str) -> BotScript | None:
    haystack = f" {normalise_text(text)} "
    for script in bot.triggers:
        for needle in script.needles:
            if f" {needle} " in haystack:
                return script
    return None


def script_matching(*, chat_id: int, text: str) -> BotScript | None:
    """The first script (by name) with a keyword contained in `text`, ignoring case
    and accents and matching whole words."""
    return _matching(selectors.chat_bot_get(chat_id=chat_id), text)


def bot_answer(*, dialog: Dialog, text: str) -> list[Message]:
    """Answer a client's message while the bot has the dialog.

    A matching trigger runs its script; otherwise the fallback answers, except on
    the dialog's first client message when the chat does not reply to it.
    Precondition: the client's message was just posted with message_post in this
    transaction, which read the chat's bot version with the dialog (no query here for
    the scripts while this process's copy is of that version).
    """
    if dialog.status != DialogStatus.BOT:
        return []
    bot = selectors.chat_bot_get(chat_id=dialog.chat_id, version=dialog.bot_version)
    script = _matching(bot, text)
    if script is not None:
        return _script_post(dialog=dialog, bot=bot, script=script)
    if dialog.client_message_count <= 1 and not bot.reply_to_first_message:
        return []
    Dialog.objects.filter(pk=dialog.pk).update(fallback_count=F("fallback_count") + 1)
    dialog.fallback_count += 1
    if bot.fallback is not None:
        return _script_post(dialog=dialog, bot=bot, script=bot.fallback)
    with override(bot.language):
        text = _("Sorry, I did not understand. Please choose one of the options.")
    message, _created = message_post(
        dialog=dialog, author_kind=AuthorKind.BOT, author_name=bot.name, text=text
    )
    return [message]


@dataclass(frozen=True)
class ClientMessageResult:
    """A stored client message and what the bot wrote in answer, in order (nothing
    when the message was a repeat). Consumers send these without reading them back."""

    message: Message
    created: bool
    answers: list[Message] = field(default_factory=list)


class UnknownButton(Exception):
    """The button does not exist in this dialog's chat."""


# how many of the dialog's latest bot messages are searched for a pressed API-bot button
POSTED_BUTTONS_SCANNED = 20


def _posted_payload_button(dialog: Dialog, button_id: int) -> dict | None:
    """A button with a payload that an API bot put under one of its latest messages in
    this dialog (their ids are drawn above 2**52, never a script button's)."""
    recent = (
        Message.objects.filter(dialog_id=dialog.pk, author_kind=AuthorKind.BOT)
        .order_by("-sequence")
        .values_list("buttons", flat=True)[:POSTED_BUTTONS_SCANNED]
    )
    for buttons in recent:
        for button in buttons or []:
            if isinstance(button, dict) and button.get("id") == button_id and "payload" in button:
                return button
    return None


def bot_button_press(*, dialog: Dialog, button_id: int, client_msg_id: str) -> ClientMessageResult:
    """A client pressed a script button: it is recorded as the client's message (its
    label) and the target script runs. A button an API bot posted with a payload is
    recorded the same way and noted for handoff (the bot gets it). Idempotent on
    `client_msg_id`."""
    bot = selectors.chat_bot_get(chat_id=dialog.chat_id)
    label, target_script_id = bot.buttons.get(button_id, ("", None))
    if target_script_id is None:
        posted = None if button_id in bot.buttons else _posted_payload_button(dialog, button_id)
        if posted is None:
            raise UnknownButton(button_id)
        # an API bot's button: the client says its label, and the bot hears it as a
        # message (handoff's client_wrote pushes it to the bot's webhook)
        with transaction.atomic():
            message, created = message_post(
                dialog=dialog,
                author_kind=AuthorKind.CLIENT,
                text=posted["label"],
                client_msg_id=client_msg_id,
            )
            if created and handoff_entry.installed:
                handoff_entry.handler.client_wrote(dialog=dialog, message=message)
        return ClientMessageResult(message=message, created=created)
    with transaction.atomic():
        message, created = message_post(
            dialog=dialog,
            author_kind=AuthorKind.CLIENT,
            text=label,
            client_msg_id=client_msg_id,
        )
        answers = []
        if created and dialog.status == DialogStatus.BOT:
            answers = _script_post(dialog=dialog, bot=bot, script=bot.scripts[target_script_id])
    return ClientMessageResult(message=message, created=created, answers=answers)
