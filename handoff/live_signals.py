"""What the two sides of a conversation tell each other live without storing it: that
one of them is typing, and how far an operator has read (docs/protocol.md "Typing and
seen", docs/handoff.md).

Typing is never stored: a frame from one side becomes one `dialog.typing` event on the
dialog's group (the visitor's widget sockets and the consoles watching the dialog are
in it), and each consumer passes on only what the other side said. Each socket
forwards at most one "typing" per TYPING_MIN_SECONDS (a browser sends one every ~2 s
while its person types) and a "stopped" only after a "typing", so a client that floods
costs its own frames and nothing more.

The seen mark is the operators' read mark (handoff.models.ConversationRead): when an
operator's console marks a dialog read, the dialog's group is told the sequence read
(`dialog.seen`) after the commit, and the visitor's widget shows "Seen"."""

from __future__ import annotations

import time

from django.db import transaction
from django.db.models import Max

from chats.realtime import dialog_group_name, event_type, group_send_after_commit, group_send_now
from distributor.models import Operator
from handoff.models import ConversationRead
from handoff.services import conversation_read_mark

DIALOG_TYPING = event_type("dialog.typing")
DIALOG_SEEN = event_type("dialog.seen")

# the shortest time between two "typing" frames a socket passes on
TYPING_MIN_SECONDS = 1.0
TYPING_FROM_CLIENT = "client"
TYPING_FROM_OPERATOR = "operator"


class TypingThrottle:
    """One socket's typing: whether a frame goes on to the other side. A "typing" goes
    on at most once per TYPING_MIN_SECONDS; a "stopped" only when a "typing" went on
    since the last "stopped"."""

    def __init__(self) -> None:
        self.forwarded_at: float | None = None
        self.typing = False

    def allows(self, typing: bool) -> bool:
        now = time.monotonic()
        if not typing:
            was_typing, self.typing = self.typing, False
            self.forwarded_at = None if was_typing else self.forwarded_at
            return was_typing
        if self.forwarded_at is not None and now - self.forwarded_at < TYPING_MIN_SECONDS:
            return False
        self.forwarded_at = now
        self.typing = True
        return True


async def typing_publish(*, dialog_id: int, side: str, typing: bool, name: str = "") -> None:
    """Tell the dialog's group, now (nothing is stored, so there is no commit to wait
    for), that one side started or stopped typing. `name`: the operator's display name."""
    await group_send_now(
        [
            (
                dialog_group_name(dialog_id),
                {
                    "type": DIALOG_TYPING,
                    "dialog_id": dialog_id,
                    "from": side,
                    "typing": typing,
                    "name": name,
                },
            )
        ]
    )


def dialog_seen_sequence(*, dialog_id: int) -> int:
    """The furthest any operator has read the dialog (0: nobody has opened it)."""
    found = ConversationRead.objects.filter(dialog_id=dialog_id).aggregate(
        last=Max("last_read_sequence")
    )
    return found["last"] or 0


def conversation_read_mark_and_tell(*, operator: Operator, dialog_id: int, sequence: int) -> None:
    """Mark the dialog read by the operator up to `sequence` (the mark never moves
    back) and, after the commit, tell the dialog's group how far it is read."""
    if sequence <= 0:
        return
    with transaction.atomic():
        conversation_read_mark(operator=operator, dialog_id=dialog_id, sequence=sequence)
        group_send_after_commit(
            [
                (
                    dialog_group_name(dialog_id),
                    {"type": DIALOG_SEEN, "dialog_id": dialog_id, "sequence": sequence},
                )
            ]
        )
