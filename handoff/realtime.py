"""Console events: what operators' consoles are told about requests and their
messages. Like dialog events they go out after commit; a console that reconnects asks
for a fresh snapshot, and a watched dialog's gaps are read from the database.

Groups: every console joins its operator's group (console.operator.<id>) and the
groups of the chats it serves (console.chat.<id>). A message of an open request is
one event per recipient: to the owner's operator group while accepted, to the
chat's group while waiting (every operator who may accept). Each names its chat: a
console drops those of chats it does not serve (an owner whose chat was taken away), and
a console watching the dialog takes its messages from the dialog's group and drops
these (handoff.consumers).

Not every console of a chat may take its waiting requests: only the managers eligible
for the request's channel and route (distributor.selectors.eligible_filter). A change of
a request nobody holds names them (`audience`, read once per change, never per
message); a message of a waiting request sent to the chat's group says so (`waiting`),
and a console passes it on only for a request it shows (one whose change named it, or
its snapshot listed: handoff.selectors applies the same rule), so the message path
asks nothing more."""

from __future__ import annotations

from chats.models import Message
from chats.realtime import dialog_group_name, event_type, group_send_after_commit
from distributor.selectors import managers_eligible_now
from handoff.enums import RequestStatus
from handoff.models import Request
from handoff.visitors import client_alias, client_name

CONSOLE_REQUEST = event_type("console.request")
CONSOLE_INBOX = event_type("console.inbox")
CONSOLE_PRESENCE = event_type("console.presence")
CONSOLE_TRANSFER = event_type("console.transfer")
DIALOG_QUEUE = event_type("dialog.queue")


def console_chat_group(chat_id: int) -> str:
    return f"console.chat.{chat_id}"


def console_operator_group(operator_id: int) -> str:
    return f"console.operator.{operator_id}"


def request_summary(request: Request) -> dict:
    dialog = request.dialog
    return {
        "id": request.pk,
        "status": request.status,
        "reason": request.reason,
        "chat": request.chat.name,
        "chat_id": request.chat_id,
        "dialog": dialog.session_id,
        "dialog_id": request.dialog_id,
        "client": str(dialog.client),
        # the console's list row (handoff.visitors): the visitor's name ("" when none is
        # known: the page shows "Visitor <alias>"), the alias, and the channel's icon
        "client_name": client_name(dialog.client),
        "client_alias": client_alias(dialog.client_id),
        "channel": dialog.messenger,
        "operator": request.operator.display_name if request.operator else None,
        "operator_id": request.operator_id,
        "created_at": request.created_at.isoformat(),
        "closed_at": request.closed_at.isoformat() if request.closed_at else None,
        "close_reason": request.close_reason,
        "form_answers": request.form_answers,
        # automatic distribution: whom the waiting request is offered to, until when
        # (a console shows it only to them, with a countdown; handoff.consumers)
        "offered_to_id": request.offered_to_id,
        "offer_deadline": request.offer_deadline.isoformat() if request.offer_deadline else None,
        # set by the change that took the offer from this operator (not accepted in time,
        # or passed on): their surfaces drop the request and say it moved on
        "offer_withdrawn_from": getattr(request, "offer_withdrawn_from", None),
    }


def inbox_group(request: Request) -> str | None:
    """Who follows this request's messages live: its operator while accepted, every
    console of its chat while it waits (only the operator it is offered to while it is
    offered to one), nobody once closed."""
    if request.status == RequestStatus.ACCEPTED and request.operator_id is not None:
        return console_operator_group(request.operator_id)
    if request.status in Request.WAITING_STATUSES and request.offered_to_id is not None:
        return console_operator_group(request.offered_to_id)
    if request.status in Request.WAITING_STATUSES:
        return console_chat_group(request.chat_id)
    return None


PREVIEW_CHARS = 120


def inbox_entry(message: Message) -> dict:
    """What a list row needs of a message (not the whole message: the row shows a
    preview, and the watched dialog gets the message itself from its own group)."""
    preview = message.text[:PREVIEW_CHARS]
    if not preview and message.attachments:
        preview = str(message.attachments[0].get("kind", ""))
    return {
        "sequence": message.sequence,
        "author_kind": message.author_kind,
        "preview": preview,
        "created_at": message.created_at.isoformat(),
    }


def inbox_message_publish(*, request: Request, message: Message) -> None:
    """After commit, one event per recipient console for a message of an open request
    (the unread count, preview and waiting time of its inbox row come from it). Not for
    an operator's own replies: the console that sent one shows it from the watched
    dialog, and the operator's other consoles on their next snapshot.

    Nor for a message older than the request (the visitor's "operator" that opened it,
    published after the notice the opening posted): the snapshot counts a request's
    visitor messages from its opening (handoff.selectors), and live does the same."""
    group = inbox_group(request)
    if group is None or message.created_at < request.created_at:
        return
    group_send_after_commit(
        [
            (
                group,
                {
                    "type": CONSOLE_INBOX,
                    "request": request.pk,
                    "chat_id": request.chat_id,
                    "dialog_id": message.dialog_id,
                    "message": inbox_entry(message),
                    # to the chat's group: only consoles showing the request take it
                    "waiting": group == console_chat_group(request.chat_id),
                },
            )
        ]
    )


def request_changed_publish(*, request: Request) -> None:
    """Tell the consoles of the request's chat after the transaction commits, and every
    visitor queued in that chat their (possibly new) place in the queue. Only queued
    visitors are told, so a chat with none costs one indexed EXISTS, however many
    requests are pending (an accept storm).

    A request nobody holds (waiting, or closed before anyone took it) names its
    `audience`: the managers eligible for it now (one more query); the other consoles
    drop it (and a console that showed it is told it is gone). A request somebody holds goes
    to the consoles that showed it and to its holder (handoff.consumers)."""
    event = {"type": CONSOLE_REQUEST, "request": request_summary(request)}
    if request.operator_id is None:
        event["audience"] = request_audience(request)
    messages = [(console_chat_group(request.chat_id), event)]
    waiting = Request.objects.filter(chat_id=request.chat_id, status__in=Request.WAITING_STATUSES)
    if waiting.filter(status=RequestStatus.QUEUED).exists():
        queued = waiting.order_by("created_at").values_list("dialog_id", "status")
        for position, (dialog_id, status) in enumerate(queued, start=1):
            if status == RequestStatus.QUEUED:
                messages.append(
                    (dialog_group_name(dialog_id), {"type": DIALOG_QUEUE, "position": position})
                )
    group_send_after_commit(messages)


def request_audience(request: Request) -> list[int]:
    """The operators whose consoles may show this request nobody holds: those eligible
    for its chat, channel and route as stored now (handoff.selectors lists by the same
    rule). Who an offer was offered to, or taken from, the consoles judge first by the
    summary's offered_to_id and offer_withdrawn_from."""
    return sorted(
        managers_eligible_now(
            chat_id=request.chat_id, messenger=request.dialog.messenger
        ).values_list("pk", flat=True)
    )


def presence_changed_publish(*, operator_id: int, presence: str, expires_at=None) -> None:
    """After commit, tell every console of the operator their presence now (the header's
    toggle follows a change made in another tab or on Telegram)."""
    group_send_after_commit(
        [
            (
                console_operator_group(operator_id),
                {
                    "type": CONSOLE_PRESENCE,
                    "presence": presence,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                },
            )
        ]
    )


def transfer_received_publish(*, request: Request, from_name: str, reason: str) -> None:
    """After commit, tell the consoles of the operator a request was handed to who gave
    it and why (the conversation itself reaches them as a request_changed)."""
    if request.operator_id is None:
        return
    group_send_after_commit(
        [
            (
                console_operator_group(request.operator_id),
                {
                    "type": CONSOLE_TRANSFER,
                    "request": request.pk,
                    "chat_id": request.chat_id,
                    "from": from_name,
                    "reason": reason,
                },
            )
        ]
    )


# --- private notes (the console's conversation view) -----------------------------------
# A note goes to the consoles watching its request (console.request.<id>, joined on
# watch), never to the dialog's group: the visitor's widget is in that one.
CONSOLE_NOTE = event_type("console.note")


def console_request_group(request_id: int) -> str:
    return f"console.request.{request_id}"


def note_added_publish(*, request_id: int, note: dict) -> None:
    """After commit, give the note to every console watching its request."""
    group_send_after_commit(
        [(console_request_group(request_id), {"type": CONSOLE_NOTE, "note": note})]
    )
