"""Console events: what operators' consoles are told about requests. Like dialog
events they go out after commit and carry enough to redraw a list row; a console
that reconnects asks for a fresh snapshot."""

from __future__ import annotations

from chats.realtime import dialog_group_name, event_type, group_send_after_commit
from handoff.models import Request

CONSOLE_REQUEST = event_type("console.request")
DIALOG_QUEUE = event_type("dialog.queue")


def console_chat_group(chat_id: int) -> str:
    return f"console.chat.{chat_id}"


def request_summary(request: Request) -> dict:
    dialog = request.dialog
    return {
        "id": request.pk,
        "status": request.status,
        "reason": request.reason,
        "chat": request.chat.name,
        "chat_id": request.chat_id,
        "dialog": dialog.session_id,
        "client": str(dialog.client),
        "operator": request.operator.display_name if request.operator else None,
        "operator_id": request.operator_id,
        "created_at": request.created_at.isoformat(),
        "closed_at": request.closed_at.isoformat() if request.closed_at else None,
        "close_reason": request.close_reason,
        "form_answers": request.form_answers,
    }


def request_changed_publish(*, request: Request) -> None:
    """Tell every console serving the request's chat after the transaction commits, and
    every visitor queued in that chat their (possibly new) place in the queue."""
    messages = [
        (
            console_chat_group(request.chat_id),
            {"type": CONSOLE_REQUEST, "request": request_summary(request)},
        )
    ]
    queued = (
        Request.objects.filter(chat_id=request.chat_id, status__in=Request.WAITING_STATUSES)
        .order_by("created_at")
        .values_list("dialog_id", "status")
    )
    for position, (dialog_id, status) in enumerate(queued, start=1):
        if status == "queued":
            messages.append(
                (dialog_group_name(dialog_id), {"type": DIALOG_QUEUE, "position": position})
            )
    group_send_after_commit(messages)
