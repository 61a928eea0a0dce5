"""API bots: registered through the API with a key of their own, they take the dialogs
of the channels routed to them (up to their capacity), get the client's messages on
their webhook and answer, hand off or close through the API.

A dialog is held by a bot (BotAssignment, released_at empty) from the client's first
message after routing until the bot hands it off or closes it, or the dialog ends
otherwise (the beat sweep releases those and tells the bot: dialog.closed), or it is no
longer the bot's: a person has it, or its channel is no longer routed to the bot (the
sweep, or the bot's next call on it, releases those and tells the bot:
dialog.released)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from chats.enums import AuthorKind, DialogStatus
from chats.models import Chat, Dialog, Message
from chats.realtime import message_payload
from chats.services import message_post
from chats.validators import validate_encodable
from distributor.enums import ApiScope, RouteTarget
from distributor.models import ApiBot, ApiKey, BotAssignment, RoutingRule
from distributor.services.api_keys import api_key_create, api_key_revoke
from distributor.services.webhooks import webhook_event_record, webhook_url_check

EVENT_ASSIGNED = "dialog.assigned"
EVENT_MESSAGE = "message.created"
EVENT_CLOSED = "dialog.closed"
EVENT_RELEASED = "dialog.released"
# why a bot no longer holds a dialog it did not hand off or close itself
RELEASED_ENDED = "ended"  # the dialog closed (dialog.closed)
RELEASED_PERSON = "person"  # a person has it: the client asked, or a request opened
RELEASED_REROUTED = "rerouted"  # its channel is no longer routed to the bot
# the history sent with dialog.assigned: the dialog's latest messages
ASSIGNED_HISTORY = 50
NAME_MAX = 100
CAPACITY_MAX = 100_000
REPLY_TEXT_MAX = 4000
BUTTONS_MAX = 10
BUTTON_TEXT_MAX = 100
BUTTON_PAYLOAD_MAX = 64
# the id an API caller gives a message it posts (a bot's reply, the general API's post):
# the same limit and characters everywhere. It is stored in Message.client_msg_id (64
# characters) behind a prefix ending in "/": a character the widget's and the console's
# ids ([A-Za-z0-9_-:.]) and Telegram's ("tg:<update id>") never hold, so no client can
# take an id an API caller will use. The prefixes are "bot/" and "api<key id>/" (the
# general API's: at most 16 characters while key ids are below 10**12), so 48 fits.
CLIENT_MESSAGE_ID_MAX = 48
CLIENT_MESSAGE_ID_PATTERN = rf"^[A-Za-z0-9._:-]{{1,{CLIENT_MESSAGE_ID_MAX}}}$"
CLIENT_MESSAGE_ID_PREFIX = "bot/"
BUTTON_ID_BASE = 2**52


class BotDialogNotFound(Exception):
    """No dialog with this session id is held by this bot."""


class BotDialogNoLongerHeld(Exception):
    """The bot held this dialog, but it is not the bot's any more (a person has it, or its
    channel is no longer routed to the bot): it was released just now (and the bot told:
    dialog.released). `reason` is RELEASED_PERSON or RELEASED_REROUTED."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- registration and settings ---------------------------------------------------------------


def _name_check(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": _("A bot needs a name.")})
    validate_encodable(name)
    if len(name.strip()) > NAME_MAX:
        raise ValidationError({"name": _("A bot's name is at most 100 characters.")})
    return name.strip()


def _capacity_check(capacity) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise ValidationError({"capacity": _("The capacity is a whole number.")})
    if not 1 <= capacity <= CAPACITY_MAX:
        raise ValidationError(
            {"capacity": _("The capacity is between 1 and %(max)s.") % {"max": CAPACITY_MAX}}
        )
    return capacity


def _webhook_check(url) -> str:
    try:
        return webhook_url_check(url)
    except ValidationError as error:
        raise ValidationError({"webhook_url": error.messages}) from None


def api_bot_register(
    *,
    key: ApiKey,
    name: str,
    webhook_url: str,
    chats: list[int],
    capacity: int = 100,
) -> tuple[ApiBot, str, str]:
    """Register an API bot on behalf of `key` (an integration's key; the API requires
    it to hold managers:write). The bot gets a key of its own (scope dialogs:write, the
    given chats, which must be among `key`'s) and a signing secret for its webhook.
    Returns (bot, the bot's API token, the signing secret): the only time either exists
    outside the bot. Raises ValidationError (field -> messages), writing nothing."""
    name = _name_check(name)
    webhook_url = _webhook_check(webhook_url)
    capacity = _capacity_check(capacity)
    if (
        not isinstance(chats, list)
        or not chats
        or not all(isinstance(chat, int) and not isinstance(chat, bool) for chat in chats)
    ):
        raise ValidationError({"chats": _("Name the bot's chats: a list of chat ids.")})
    allowed = set(key.chats.values_list("pk", flat=True))
    if not set(chats) <= allowed:
        raise ValidationError({"chats": _("This key may only give a bot its own chats.")})
    with transaction.atomic():
        bot_key, token = api_key_create(
            name=(_("bot: %(name)s") % {"name": name})[:NAME_MAX],
            scopes=[ApiScope.DIALOGS_WRITE],
            chats=list(Chat.objects.filter(pk__in=set(chats))),
            created_by=key.created_by,
            requests_per_minute=key.requests_per_minute,
        )
        signing_secret = secrets.token_hex(32)
        bot = ApiBot.objects.create(
            name=name,
            api_key=bot_key,
            webhook_url=webhook_url,
            signing_secret=signing_secret,
            capacity=capacity,
        )
    return bot, token, signing_secret


def api_bot_update(
    *,
    bot: ApiBot,
    name: str | None = None,
    webhook_url: str | None = None,
    capacity: int | None = None,
    is_active: bool | None = None,
) -> ApiBot:
    """Change a bot's name, webhook, capacity or whether it takes new dialogs (an
    inactive bot keeps the dialogs it holds; new ones go to the chat's scripts). Raises
    ValidationError, writing nothing."""
    changes = {}
    if name is not None:
        changes["name"] = _name_check(name)
    if webhook_url is not None:
        changes["webhook_url"] = _webhook_check(webhook_url)
    if capacity is not None:
        changes["capacity"] = _capacity_check(capacity)
    if is_active is not None:
        if not isinstance(is_active, bool):
            raise ValidationError({"is_active": _("“active” is true or false.")})
        changes["is_active"] = is_active
    if changes:
        ApiBot.objects.filter(pk=bot.pk).update(**changes)
        for field, value in changes.items():
            setattr(bot, field, value)
    return bot


def api_bot_delete(*, bot: ApiBot) -> None:
    """Remove a bot: its key is revoked (the row stays, revoked, for the record), the bot,
    its held dialogs and its deliveries are deleted; channels routed to it fall back to the
    chat's scripts."""
    with transaction.atomic():
        key = bot.api_key
        ApiBot.objects.filter(pk=bot.pk).delete()
        api_key_revoke(key=key)


# --- routing ---------------------------------------------------------------------------------


def held_count(bot: ApiBot) -> int:
    """The dialogs a bot holds now (its load against its capacity)."""
    return (
        BotAssignment.objects.filter(bot=bot, released_at__isnull=True)
        .exclude(dialog__status=DialogStatus.CLOSED)
        .count()
    )


def routing_rule_for(dialog: Dialog) -> RoutingRule | None:
    """The routing rule of the dialog's chat and channel, with its API bot and key."""
    return (
        RoutingRule.objects.filter(distribution__chat_id=dialog.chat_id, messenger=dialog.messenger)
        .select_related("api_bot__api_key")
        .first()
    )


_READ_RULE = object()


def api_bot_for_dialog(
    *, dialog: Dialog, rule: RoutingRule | None | object = _READ_RULE
) -> ApiBot | None:
    """The API bot that answers this dialog instead of the chat's scripts, or None.

    The one capacity decision, made for both chats' "do the scripts answer" question
    (handoff.services.entry's scripts_answer) and for assigning the dialog
    (client_wrote): the active API bot the dialog's channel is routed to (a RoutingRule
    with target bot and an api_bot), when the bot's key is live and covers the chat, and
    the bot already holds this dialog or holds fewer dialogs than its capacity. Over
    capacity, the chat's scripts answer. Only a dialog the bot has (status bot) counts.

    `rule`: the channel's routing rule when the caller has it (a cached copy; None = no
    rule): no query then for a channel not routed to an API bot. Without it, one query
    reads it. Inside a transaction the bot's row is locked before it is counted, so two
    dialogs assigned at once never take it over capacity (callers hold the dialog's row
    first: the lock order is dialog, then bot)."""
    if dialog.status != DialogStatus.BOT:
        return None
    if rule is _READ_RULE:
        rule = routing_rule_for(dialog)
    if rule is None or rule.target != RouteTarget.BOT or rule.api_bot_id is None:
        return None
    bot = rule.api_bot
    if (
        bot.api_key.revoked_at is not None
        or not bot.api_key.chats.filter(pk=dialog.chat_id).exists()
    ):
        return None
    # an inactive bot keeps the dialogs it holds and takes no new ones
    if BotAssignment.objects.filter(
        dialog_id=dialog.pk, bot=bot, released_at__isnull=True
    ).exists():
        return bot
    if not bot.is_active:
        return None
    if connection.in_atomic_block:
        ApiBot.objects.select_for_update().filter(pk=bot.pk).first()
    if held_count(bot) >= bot.capacity:
        return None
    return bot


def dialog_payload(dialog: Dialog) -> dict:
    return {
        "session_id": dialog.session_id,
        "chat_id": dialog.chat_id,
        "messenger": dialog.messenger,
        "status": dialog.status,
        "client": {
            "id": dialog.client_id,
            "name": dialog.client.name if dialog.client_id else "",
        },
    }


def bot_message_payload(message: Message) -> dict:
    return {"id": message.pk, **message_payload(message)}


def api_bot_client_wrote(
    *, dialog: Dialog, message: Message, rule: RoutingRule | None | object = _READ_RULE
) -> bool:
    """A client's message in a dialog the bot has: when the dialog's channel is routed to
    an API bot with room (api_bot_for_dialog), the dialog is assigned to it (first time:
    dialog.assigned with the history) and the message is recorded for its webhook
    (message.created). Returns whether an API bot has the dialog (then the chat's
    trigger does not run). Runs inside the transaction that stored the message; the
    deliveries are sent after commit. `rule`: as for api_bot_for_dialog."""
    bot = api_bot_for_dialog(dialog=dialog, rule=rule)
    if bot is None:
        return False
    now = timezone.now()
    assignment = BotAssignment.objects.filter(dialog_id=dialog.pk).first()
    newly = assignment is None or assignment.released_at is not None or assignment.bot_id != bot.pk
    if assignment is None:
        BotAssignment.objects.create(dialog=dialog, bot=bot, assigned_at=now)
    elif newly:
        if assignment.released_at is None:
            # the channel now routes to another bot: the one that held it is told
            webhook_event_record(
                bot=assignment.bot,
                event=EVENT_RELEASED,
                data={"dialog": dialog_payload(dialog), "reason": RELEASED_REROUTED},
            )
        BotAssignment.objects.filter(pk=assignment.pk).update(
            bot=bot, assigned_at=now, released_at=None
        )
    described = dialog_payload(dialog)
    if newly:
        history = list(
            Message.objects.filter(dialog_id=dialog.pk).order_by("-sequence")[:ASSIGNED_HISTORY]
        )
        webhook_event_record(
            bot=bot,
            event=EVENT_ASSIGNED,
            data={
                "dialog": described,
                "messages": [bot_message_payload(item) for item in reversed(history)],
            },
        )
    webhook_event_record(
        bot=bot,
        event=EVENT_MESSAGE,
        data={
            "dialog": described,
            "message": bot_message_payload(message),
            "button": _button_answered(dialog, message),
        },
    )
    return True


def _button_answered(dialog: Dialog, message: Message) -> dict | None:
    """The payload button of the bot's latest message that this client message answers
    (pressed, or its text typed exactly), or None."""
    if not message.text:
        return None
    latest = (
        Message.objects.filter(
            dialog_id=dialog.pk, author_kind=AuthorKind.BOT, sequence__lt=message.sequence
        )
        .order_by("-sequence")
        .values_list("buttons", flat=True)
        .first()
    )
    for button in latest or []:
        if isinstance(button, dict) and "payload" in button and button.get("label") == message.text:
            return {"text": button["label"], "payload": button["payload"]}
    return None


def api_bot_release(*, dialog: Dialog, now: datetime | None = None) -> bool:
    """The bot no longer holds the dialog (it handed it off or closed it). Returns
    whether it held it."""
    return bool(
        BotAssignment.objects.filter(dialog_id=dialog.pk, released_at__isnull=True).update(
            released_at=now or timezone.now()
        )
    )


def _rule_names(rule: RoutingRule | None, bot: ApiBot) -> bool:
    return rule is not None and rule.target == RouteTarget.BOT and rule.api_bot_id == bot.pk


def _release_and_tell(
    *,
    assignment: BotAssignment,
    bot: ApiBot,
    dialog: Dialog,
    reason: str,
    now: datetime | None = None,
) -> bool:
    """Release one assignment (if still held) and tell its bot why: dialog.closed for an
    ended dialog, dialog.released otherwise. A conditional update: two releasing at once
    tell the bot once. Returns whether this call released it."""
    with transaction.atomic():
        if not BotAssignment.objects.filter(pk=assignment.pk, released_at__isnull=True).update(
            released_at=now or timezone.now()
        ):
            return False
        webhook_event_record(
            bot=bot,
            event=EVENT_CLOSED if reason == RELEASED_ENDED else EVENT_RELEASED,
            data={"dialog": dialog_payload(dialog), "reason": reason},
        )
    return True


def api_bot_assignments_release_ended(*, now: datetime | None = None) -> int:
    """Release the assignments of dialogs that are no longer the bot's and tell each bot:
    the dialog ended without the bot (the client ended it, the idle sweep closed it:
    dialog.closed), a person has it (the client asked for one: dialog.released, reason
    "person"), or its channel's routing rule no longer names the bot (an admin re-routed
    it: dialog.released, reason "rerouted"). Running it twice, or two at once, releases
    and tells nothing twice. Returns how many were released."""
    now = now or timezone.now()
    released = 0
    routed_to_bot = RoutingRule.objects.filter(
        distribution__chat_id=OuterRef("dialog__chat_id"),
        messenger=OuterRef("dialog__messenger"),
        target=RouteTarget.BOT,
        api_bot_id=OuterRef("bot_id"),
    )
    stale = (
        BotAssignment.objects.filter(released_at__isnull=True)
        .filter(~Q(dialog__status=DialogStatus.BOT) | ~Exists(routed_to_bot))
        .select_related("bot", "dialog__client")
        .order_by("pk")[:500]
    )
    for assignment in stale:
        dialog = assignment.dialog
        if dialog.status == DialogStatus.CLOSED:
            reason = RELEASED_ENDED
        elif dialog.status != DialogStatus.BOT:
            reason = RELEASED_PERSON
        else:
            reason = RELEASED_REROUTED
        if _release_and_tell(
            assignment=assignment, bot=assignment.bot, dialog=dialog, reason=reason, now=now
        ):
            released += 1
    return released


# --- what a bot does through the API ---------------------------------------------------------


def api_bot_dialog_get(*, bot: ApiBot, session_id: str) -> Dialog:
    """The dialog with this session id that `bot` holds now; BotDialogNotFound for any
    other (unknown, another bot's, released). A dialog the bot held that is no longer its
    own (a person has it, or its channel is no longer routed to the bot) is released now,
    the bot told (dialog.released), and BotDialogNoLongerHeld raised. A closed dialog is
    returned: what the bot then does is refused as for a closed dialog (the sweep
    releases it and sends dialog.closed)."""
    if not isinstance(session_id, str) or len(session_id) > 64:
        raise BotDialogNotFound(session_id)
    dialog = (
        Dialog.objects.select_related("chat", "client", "bot_assignment")
        .filter(
            session_id=session_id,
            bot_assignment__bot=bot,
            bot_assignment__released_at__isnull=True,
        )
        .first()
    )
    if dialog is None:
        raise BotDialogNotFound(session_id)
    if dialog.status == DialogStatus.CLOSED:
        return dialog
    if dialog.status != DialogStatus.BOT:
        reason = RELEASED_PERSON
    elif not _rule_names(routing_rule_for(dialog), bot):
        reason = RELEASED_REROUTED
    else:
        return dialog
    _release_and_tell(assignment=dialog.bot_assignment, bot=bot, dialog=dialog, reason=reason)
    raise BotDialogNoLongerHeld(reason)


def _button_id() -> int:
    """A bot's button's id: the widget and Telegram send it back when it is pressed
    (chats' bot_button_press). Drawn from [2**52, 2**53): above any script button's id,
    and exact as a JavaScript number."""
    return BUTTON_ID_BASE + secrets.randbelow(BUTTON_ID_BASE)


def reply_buttons_check(buttons) -> list[dict]:
    """A bot's buttons as messages store them (like the scripts' buttons: a label and a
    URL, or a label and the bot's payload). Raises ValidationError."""
    if buttons is None:
        return []
    if not isinstance(buttons, list) or len(buttons) > BUTTONS_MAX:
        raise ValidationError(
            {"buttons": _("Buttons are a list of at most %(max)s.") % {"max": BUTTONS_MAX}}
        )
    stored = []
    for button in buttons:
        if not isinstance(button, dict) or set(button) - {"text", "payload", "url"}:
            raise ValidationError(
                {"buttons": _("A button has “text” and either “payload” or “url”.")}
            )
        text = button.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > BUTTON_TEXT_MAX:
            raise ValidationError(
                {"buttons": _("A button's text is 1 to %(max)s characters.") % {"max": 100}}
            )
        has_url, has_payload = "url" in button, "payload" in button
        if has_url == has_payload:
            raise ValidationError(
                {"buttons": _("A button has either a “payload” or a “url” (one of them).")}
            )
        if has_url:
            url = button["url"]
            try:
                if not isinstance(url, str) or len(url) > 2000:
                    raise ValidationError("")
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError:
                raise ValidationError(
                    {"buttons": _("A button's URL must be an http or https address.")}
                ) from None
            stored.append({"id": _button_id(), "label": text.strip(), "url": url})
        else:
            payload = button["payload"]
            if not isinstance(payload, str) or not payload or len(payload) > BUTTON_PAYLOAD_MAX:
                raise ValidationError(
                    {"buttons": _("A button's payload is 1 to %(max)s characters.") % {"max": 64}}
                )
            stored.append({"id": _button_id(), "label": text.strip(), "payload": payload})
    validate_encodable(stored)
    return stored


def api_bot_reply(
    *,
    bot: ApiBot,
    dialog: Dialog,
    text: str,
    buttons: list[dict] | None = None,
    client_message_id: str | None = None,
) -> tuple[Message, bool]:
    """Post the bot's message (with buttons) to the client; returns (message, created).

    Idempotent on `client_message_id`: the same id returns the message stored first and
    `created=False`, writing nothing. Raises ValidationError for bad input and
    chats.services.DialogClosed for a closed dialog, writing nothing."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError({"text": _("A message needs text.")})
    if len(text) > REPLY_TEXT_MAX:
        raise ValidationError(
            {"text": _("A message is at most %(max)s characters.") % {"max": REPLY_TEXT_MAX}}
        )
    validate_encodable(text)
    stored_buttons = reply_buttons_check(buttons)
    if client_message_id is not None and (
        not isinstance(client_message_id, str)
        or not re.fullmatch(CLIENT_MESSAGE_ID_PATTERN, client_message_id)
    ):
        raise ValidationError(
            {
                "client_message_id": _(
                    "A client message id is 1 to %(max)s letters, digits, “.”, “_”, “:” or “-”."
                )
                % {"max": CLIENT_MESSAGE_ID_MAX}
            }
        )
    with transaction.atomic():
        return message_post(
            dialog=dialog,
            author_kind=AuthorKind.BOT,
            author_name=bot.name,
            text=text,
            buttons=stored_buttons,
            client_msg_id=(
                CLIENT_MESSAGE_ID_PREFIX + client_message_id if client_message_id else None
            ),
        )
