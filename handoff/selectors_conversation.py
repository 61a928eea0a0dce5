"""The console's conversation view: the visitor's side panel and the private notes of
a request, for an operator who may open that conversation. Every read is bounded: a
fixed number of statements whatever the visitor's history holds (latest PANEL_ITEMS
of each list)."""

from __future__ import annotations

from chats.models import MarkerHit, PageVisit
from distributor.models import CustomerBinding, Operator
from handoff.enums import RequestStatus
from handoff.models import ConversationNote, Request
from handoff.selectors import request_get_for_operator, request_rejected_by, requests_visible_to
from handoff.visitors import client_alias

# the most pages, markers and earlier conversations the panel lists (latest first)
PANEL_ITEMS = 20


def request_get_for_conversation(*, operator: Operator, request_id: object) -> Request:
    """The request whose conversation this operator may open (watch, read its panel
    and notes, write a note): one they may see that no other operator holds and, while
    it waits, that they did not reject. Request.DoesNotExist otherwise, so a request
    that is not theirs to open looks the same as one that does not exist."""
    request = request_get_for_operator(operator=operator, request_id=request_id)
    if request.status == RequestStatus.ACCEPTED and request.operator_id != operator.pk:
        raise Request.DoesNotExist
    if request.status in Request.WAITING_STATUSES and request_rejected_by(
        request=request, operator=operator
    ):
        raise Request.DoesNotExist
    return request


def visitor_panel(*, operator: Operator, request_id: object) -> dict:
    """What the console's side panel shows of the visitor behind a request: the
    customer they are bound to, their channel, the pages they visited and the markers
    their dialogs reached (latest first), the request's form answers, and their earlier
    conversations (requests of the same client, latest first) with `link` true for
    those this operator may open. Request.DoesNotExist for a request the operator may
    not open (request_get_for_conversation)."""
    request = request_get_for_conversation(operator=operator, request_id=request_id)
    client = request.dialog.client
    binding = CustomerBinding.objects.select_related("customer").filter(client_id=client.pk).first()
    customer = binding.customer if binding is not None else None
    pages = (
        PageVisit.objects.filter(dialog__client_id=client.pk)
        .order_by("-visited_at", "-id")
        .values("url", "title", "visited_at")[:PANEL_ITEMS]
    )
    markers = (
        MarkerHit.objects.filter(dialog__client_id=client.pk)
        .order_by("-created_at", "-id")
        .values("marker", "created_at")[:PANEL_ITEMS]
    )
    earlier = list(
        Request.objects.filter(dialog__client_id=client.pk, created_at__lte=request.created_at)
        .exclude(pk=request.pk)
        .select_related("chat", "operator")
        .order_by("-created_at", "-id")[:PANEL_ITEMS]
    )
    openable = set(
        requests_visible_to(operator)
        .filter(pk__in=[item.pk for item in earlier])
        .values_list("pk", flat=True)
    )
    return {
        "request": request.pk,
        "client": {
            # the list's rule: the visitor's own name, else the customer's; the page
            # shows "Visitor <alias>" when both are empty
            "name": client.name.strip() or (customer.name.strip() if customer else ""),
            "alias": client_alias(client.pk),
            "channel": client.messenger,
            "channel_label": str(client.get_messenger_display()),
            "since": client.created_at.isoformat(),
        },
        "customer": None
        if customer is None
        else {"name": customer.name, "phone": customer.phone or "", "email": customer.email or ""},
        "form_answers": request.form_answers if isinstance(request.form_answers, list) else [],
        "pages": [
            {
                "url": page["url"],
                "title": page["title"],
                "visited_at": page["visited_at"].isoformat(),
            }
            for page in pages
        ],
        "markers": [
            {"marker": hit["marker"], "created_at": hit["created_at"].isoformat()}
            for hit in markers
        ],
        "previous": [
            {
                "id": item.pk,
                "created_at": item.created_at.isoformat(),
                "chat": item.chat.name,
                "status": item.status,
                "operator": item.operator.display_name if item.operator else None,
                "link": item.pk in openable,
            }
            for item in earlier
        ],
    }


def note_payload(note: ConversationNote) -> dict:
    """A note as the console gets it (the visitor never does)."""
    return {
        "id": note.pk,
        "request": note.request_id,
        "author": note.author_name,
        "author_id": note.author_id,
        "text": note.text,
        "created_at": note.created_at.isoformat(),
        "client_msg_id": note.client_msg_id,
    }


def conversation_notes(*, request_id: int) -> list[dict]:
    """The request's private notes, oldest first (one statement). For a request the
    caller already may open (request_get_for_conversation, or visitor_panel)."""
    return [note_payload(note) for note in ConversationNote.objects.filter(request_id=request_id)]
