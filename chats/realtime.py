"""Dialog events on the channel layer. The layer is only a doorbell: every event
carries a sequence number and the database is the record, so a consumer that
missed an event fetches the gap from the database (see docs/protocol.md)."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import RedisError

from chats.validators import text_has_lone_surrogate, text_make_encodable

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from chats.models import Dialog, Message

Result = TypeVar("Result")

# Set while a consumer's database call runs (database_call): events committed in it
# are collected here and published from the consumer's event loop afterwards, so the
# process's one database thread never waits on Redis.
_collected_events: contextvars.ContextVar[list[tuple[str, dict]] | None] = contextvars.ContextVar(
    "baton_collected_events", default=None
)


# Every event type sent on the channel layer, registered where it is published.
# Both consumers (widget and console) join dialog groups, so each needs a handler
# for every type, even a no-op; tests/handoff/test_console_hardening.py sends each
# registered type to both, and group_send_after_commit refuses an unregistered one.
EVENT_TYPES: set[str] = set()


def event_type(name: str) -> str:
    """Register and return an event type name ("dialog.message")."""
    EVENT_TYPES.add(name)
    return name


DIALOG_MESSAGE = event_type("dialog.message")
DIALOG_HEADSET = event_type("dialog.headset")
DIALOG_STATUS = event_type("dialog.status")
ACCESS_CHANGED = event_type("access.changed")


def frame_encode(frame: dict) -> str:
    """A websocket text frame for `frame` that can always be sent: a lone surrogate
    that reached the database somehow becomes U+FFFD instead of failing the send
    (UnicodeEncodeError) and with it the socket."""
    text = json.dumps(frame, ensure_ascii=False)
    if text_has_lone_surrogate(text):
        text = text_make_encodable(text)
    return text


def dialog_group_name(dialog_id: int) -> str:
    return f"dialog.{dialog_id}"


def message_payload(message: Message) -> dict:
    return {
        "sequence": message.sequence,
        "author_kind": message.author_kind,
        "author_name": message.author_name,
        "text": message.text,
        "buttons": message.buttons,
        "attachments": message.attachments,
        "created_at": message.created_at.isoformat(),
        "client_msg_id": message.client_msg_id,
    }


def user_access_group(user_id: int) -> str:
    return f"access.user.{user_id}"


def group_send_after_commit(messages: list[tuple[str, dict]]) -> None:
    """Send (group, event) pairs on the channel layer once the transaction commits.
    Raises ValueError at once for an event type nobody registered (so no consumer
    is known to handle it)."""
    unregistered = {event["type"] for _group, event in messages} - EVENT_TYPES
    if unregistered:
        raise ValueError(f"unregistered event type(s): {', '.join(sorted(unregistered))}")

    def send() -> None:
        collected = _collected_events.get()
        if collected is not None:
            collected.extend(messages)
            return
        async_to_sync(group_send_now)(messages)

    # robust: a channel layer that is away must not cancel the other commit hooks
    # (Telegram sends, task scheduling); clients catch up from the database anyway
    transaction.on_commit(send, robust=True)


async def group_send_now(messages: list[tuple[str, dict]]) -> None:
    """Send (group, event) pairs on the channel layer, in order. A layer that is away
    is logged once and skipped: clients catch up from the database."""
    layer = get_channel_layer()
    if layer is None:
        return
    for group, event in messages:
        try:
            try:
                await layer.group_send(group, event)
            except UnicodeEncodeError:
                # stored text from before validation: the layer's encoder (msgpack)
                # fails like the socket's would, so send what frame_encode sends
                await layer.group_send(group, json.loads(frame_encode(event)))
        except (RedisError, OSError) as error:
            # Redis is away (e.g. `load_demo` before `make run` starts it): nobody
            # can be listening then, and clients catch up from the database
            logger.warning(
                "channel layer unreachable, %d event(s) not published: %s",
                len(messages),
                error,
            )
            return


@contextlib.contextmanager
def collecting_events() -> Iterator[list[tuple[str, dict]]]:
    """Collect, instead of sending, the events that transactions committing inside the
    block publish; the caller sends them from its event loop (group_send_now)."""
    collected: list[tuple[str, dict]] = []
    token = _collected_events.set(collected)
    try:
        yield collected
    finally:
        _collected_events.reset(token)


def _call_collecting(
    function: Callable[..., Result], kwargs: dict[str, Any]
) -> tuple[Result | None, list[tuple[str, dict]], BaseException | None]:
    collected: list[tuple[str, dict]] = []
    token = _collected_events.set(collected)
    try:
        return function(**kwargs), collected, None
    except Exception as error:  # published below, then raised in the caller
        return None, collected, error
    finally:
        _collected_events.reset(token)


async def database_call(function: Callable[..., Result], /, **kwargs: Any) -> Result:
    """Run a service on the database thread (database_sync_to_async) and publish the
    events its commits produced from this event loop once it returns, instead of
    blocking the database thread in group_send. Events of transactions that
    committed are published even when the call then raised; the error is re-raised."""
    result, collected, error = await database_sync_to_async(_call_collecting)(function, kwargs)
    if collected:
        await group_send_now(collected)
    if error is not None:
        raise error
    return result  # type: ignore[return-value]


def dialog_message_publish(*, message: Message) -> None:
    """Ring the dialog's doorbell for a new message once the transaction commits."""
    group_send_after_commit(
        [
            (
                dialog_group_name(message.dialog_id),
                {"type": DIALOG_MESSAGE, "message": message_payload(message)},
            )
        ]
    )


def dialog_headset_publish(*, dialog: Dialog) -> None:
    group_send_after_commit([(dialog_group_name(dialog.pk), {"type": DIALOG_HEADSET})])


def dialog_status_publish(*, dialog: Dialog) -> None:
    group_send_after_commit(
        [
            (
                dialog_group_name(dialog.pk),
                {
                    "type": DIALOG_STATUS,
                    "status": dialog.status,
                    "last_sequence": dialog.last_sequence,
                },
            )
        ]
    )


def user_access_changed_publish(*, user_id: int) -> None:
    """After commit, tell the user's open consoles that what they may see may have
    changed (chats served, account or operator profile switched off, logged out):
    each re-reads its access from the database and leaves what it lost."""
    group_send_after_commit([(user_access_group(user_id), {"type": ACCESS_CHANGED})])
