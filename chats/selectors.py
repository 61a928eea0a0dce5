"""Reads of the chats app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch

from chats.enums import ScriptKind
from chats.models import Chat, Message, Script, Step, StepButton
from chats.normalise import normalise_text
from chats.realtime import message_payload

RESUME_BATCH = 500


@dataclass(frozen=True)
class BotStep:
    text: str
    marker: str
    connect_operator: bool
    buttons: tuple[dict, ...]


@dataclass(frozen=True)
class BotScript:
    pk: int
    name: str
    kind: str
    needles: tuple[str, ...]  # its keywords, normalised
    steps: tuple[BotStep, ...]


@dataclass(frozen=True)
class ChatBot:
    """A chat's bot as one process keeps it: its scripts with their steps and buttons,
    and the chat settings the bot engine reads. Immutable; replaced when the chat's
    scripts_version moves."""

    chat_id: int
    version: int
    name: str
    language: str
    reply_to_first_message: bool
    scripts: dict[int, BotScript]
    triggers: tuple[BotScript, ...]  # scripts with keywords, by name
    start: BotScript | None
    fallback: BotScript | None
    # button id -> (its label, the script it leads to; None for a URL button)
    buttons: dict[int, tuple[str, int | None]]


# chat id -> its compiled bot; a plain dict: a stale entry is only ever replaced
_chat_bots: dict[int, ChatBot] = {}


def _button_payload(button: StepButton) -> dict:
    if button.url:
        return {"id": button.pk, "label": button.label, "url": button.url}
    return {"id": button.pk, "label": button.label}


def _chat_bot_compile(chat_id: int) -> ChatBot:
    chat = Chat.objects.only("name", "language", "reply_to_first_message", "scripts_version").get(
        pk=chat_id
    )
    scripts = {}
    buttons = {}
    # by name as the database sorts it: the first matching trigger wins
    for script in (
        Script.objects.filter(chat_id=chat_id)
        .order_by("name")
        .prefetch_related(
            Prefetch("steps", queryset=Step.objects.order_by("position", "id")),
            "steps__buttons",
        )
    ):
        for step in script.steps.all():
            for button in step.buttons.all():
                buttons[button.pk] = (button.label, button.target_script_id)
        scripts[script.pk] = BotScript(
            pk=script.pk,
            name=script.name,
            kind=script.kind,
            needles=tuple(
                needle
                for needle in (normalise_text(keyword) for keyword in script.keyword_list)
                if needle
            ),
            steps=tuple(
                BotStep(
                    text=step.text,
                    marker=step.marker,
                    connect_operator=step.connect_operator,
                    buttons=tuple(_button_payload(button) for button in step.buttons.all()),
                )
                for step in script.steps.all()
            ),
        )
    kinds = {script.kind: script for script in scripts.values()}
    return ChatBot(
        chat_id=chat_id,
        version=chat.scripts_version,
        name=chat.name,
        language=chat.language,
        reply_to_first_message=chat.reply_to_first_message,
        scripts=scripts,
        triggers=tuple(script for script in scripts.values() if script.needles),
        start=kinds.get(ScriptKind.START),
        fallback=kinds.get(ScriptKind.FALLBACK),
        buttons=buttons,
    )


def chat_bot_get(*, chat_id: int, version: int | None = None) -> ChatBot:
    """The chat's compiled bot, from this process's copy when it is of `version` (the
    chat's scripts_version the caller read with the dialog: no query then); otherwise
    read from the database. Without `version`, one query reads it."""
    if version is None:
        version = Chat.objects.values_list("scripts_version", flat=True).get(pk=chat_id)
    bot = _chat_bots.get(chat_id)
    if bot is not None and bot.version == version:
        return bot
    bot = _chat_bot_compile(chat_id)
    # a save committed since `version` was read gives a newer copy: keep it only under
    # the version it was read with (the next caller with the old version reloads)
    _chat_bots[chat_id] = bot
    return bot


def chat_get_by_public_key(*, public_key: str) -> Chat | None:
    return Chat.objects.filter(public_key=public_key).prefetch_related("messenger_links").first()


def messages_after(*, dialog_id: int, sequence: int, limit: int = RESUME_BATCH) -> list[dict]:
    """Payloads of the dialog's messages after `sequence`, oldest first."""
    messages = Message.objects.filter(dialog_id=dialog_id, sequence__gt=sequence).order_by(
        "sequence"
    )[:limit]
    return [message_payload(message) for message in messages]


def chat_deletion_summary(*, chat: Chat) -> dict[str, int]:
    """What goes with a chat when it is deleted (shown on the confirmation page)."""
    counts = Chat.objects.filter(pk=chat.pk).aggregate(
        scripts=Count("scripts", distinct=True),
        clients=Count("clients", distinct=True),
        dialogs=Count("dialogs", distinct=True),
    )
    counts["messages"] = Message.objects.filter(dialog__chat=chat).count()
    return counts
