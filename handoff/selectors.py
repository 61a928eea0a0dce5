"""Handoff reads, scoped to the acting operator: nobody sees a request of a chat they
do not serve."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from chats.enums import AuthorKind
from chats.models import Message
from distributor.enums import Presence
from distributor.models import Operator
from distributor.selectors import eligible_filter, managers_eligible
from distributor.services import presence_effective
from handoff.access import ConsoleSession
from handoff.enums import RequestStatus
from handoff.models import CannedReply, ConversationRead, HandoffSettings, Request
from handoff.realtime import PREVIEW_CHARS, request_summary

DATABASE_SESSIONS = "django.contrib.sessions.backends.db"

CLOSED_SHOWN = 50  # one page of the closed list (more with a closed_page frame)
SEARCH_SHOWN = 50
# a chat's canned replies sent to the console at most (the picker filters them as typed)
CANNED_REPLIES_SHOWN = 500


def operator_for_user(user) -> Operator | None:
    if user is None or not user.is_authenticated:
        return None
    return Operator.objects.filter(user=user).first()


def user_of_session(*, session_key: str | None):
    """Who is logged in with this session now, read afresh (AnonymousUser once it is
    logged out, the account deactivated or its password changed): Django's own
    request check, run for a long-lived socket."""
    engine = import_module(settings.SESSION_ENGINE)
    return auth.get_user(SimpleNamespace(session=engine.SessionStore(session_key)))


def console_access_get(
    *, session_key: str | None, user_id: int | None, operator_id: int
) -> tuple[Operator | None, bool]:
    """The operator profile an open console may still act as, read afresh:
    (operator, True) while its session is still logged in as that profile's user, and
    the account active; (None, True) when it is, but the profile is gone or now another
    user's; (None, False) when the session ended (logout, expiry, password change,
    account switched off) or is now someone else's."""
    user = user_of_session(session_key=session_key)
    if not user.is_authenticated or not user.is_active or user.pk != user_id:
        return None, False
    operator = Operator.objects.filter(pk=operator_id, user=user).first()
    if operator is not None:
        operator.user = user
    return operator, True


def console_session_confirm(*, session: ConsoleSession) -> tuple[Operator | None, bool]:
    """console_access_get for an open console, in one indexed read while nothing
    changed: the operator profile of the active user, the user's password hash and, in
    the same statement, the session's unexpired data. When the data and the hash are
    what the last full check verified, the answer is the same (with the user that check
    returned); else (or with another session engine) the full check runs and is
    remembered. The read is raw SQL built once per process: it runs before every frame
    an operator sends, and the ORM's query building was most of its cost."""
    if settings.SESSION_ENGINE == DATABASE_SESSIONS and session.seen is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                _confirm_statement(),
                [
                    session.session_key or "",
                    connection.ops.adapt_datetimefield_value(timezone.now()),
                    session.operator_id,
                    session.user_id,
                ],
            )
            row = cursor.fetchone()
        if row is not None and (row[-1], row[-2]) == session.seen:
            operator = Operator.from_db(connection.alias, _operator_attnames(), list(row[:-2]))
            operator.user = session.seen_user
            return operator, True
    operator, logged_in = console_access_get(
        session_key=session.session_key, user_id=session.user_id, operator_id=session.operator_id
    )
    session.seen = None
    session.seen_user = None
    if operator is not None and settings.SESSION_ENGINE == DATABASE_SESSIONS:
        data = (
            Session.objects.filter(session_key=session.session_key, expire_date__gt=timezone.now())
            .values_list("session_data", flat=True)
            .first()
        )
        if data is not None:
            session.seen = (data, operator.user.password)
            session.seen_user = operator.user
    return operator, logged_in


@functools.cache
def _operator_attnames() -> tuple[str, ...]:
    """The operator profile's columns in CONFIRM_SQL's order, as Operator.from_db takes them."""
    return tuple(field.attname for field in Operator._meta.concrete_fields)


CONFIRM_SQL = """
SELECT {profile_columns}, u.{password},
    (SELECT s.{session_data} FROM {session_table} s
     WHERE s.{session_key} = %s AND s.{expire_date} > %s)
FROM {profile_table} m JOIN {user_table} u ON u.{user_pk} = m.{profile_user}
WHERE m.{profile_pk} = %s AND m.{profile_user} = %s AND u.{is_active}
"""


@functools.cache
def _confirm_statement() -> str:
    """CONFIRM_SQL with the models' table and column names: the operator profile's
    columns, its user's password hash and the session's unexpired data, for an active
    user (parameters: session key, now, profile id, user id)."""
    quote = connection.ops.quote_name
    user_model = get_user_model()

    def column(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    return CONFIRM_SQL.format(
        profile_columns=", ".join(
            f"m.{quote(field.column)}" for field in Operator._meta.concrete_fields
        ),
        password=column(user_model, "password"),
        session_data=column(Session, "session_data"),
        session_table=quote(Session._meta.db_table),
        session_key=column(Session, "session_key"),
        expire_date=column(Session, "expire_date"),
        profile_table=quote(Operator._meta.db_table),
        user_table=quote(user_model._meta.db_table),
        user_pk=quote(user_model._meta.pk.column),
        profile_user=column(Operator, "user"),
        profile_pk=quote(Operator._meta.pk.column),
        is_active=column(user_model, "is_active"),
    )


def _visible(operator: Operator) -> QuerySet[Request]:
    # read afresh on every frame: a chat taken away or an account switched off
    # behind an open console refuses at once, even if its access event was lost.
    # A request nobody holds (waiting, or closed before anyone took it) is only for the
    # managers eligible for its channel and route (distribution). A waiting request
    # offered to another operator (automatic distribution) is theirs alone until the
    # offer moves on: the others neither list nor open it.
    return (
        Request.objects.filter(chat__operators=operator, chat__operators__user__is_active=True)
        .filter(eligible_or_held(operator))
        .exclude(offered_elsewhere(operator))
        .select_related("chat", "operator", "dialog__client")
    )


def eligible_or_held(operator: Operator) -> Q:
    """Requests somebody holds (or held), or that `operator` is eligible for now: the
    channels they serve in the request's chat and its routing rule's manager set
    (distributor.selectors.eligible_filter; request_accept checks the same rule)."""
    return Q(operator__isnull=False) | eligible_filter(
        operator=operator.pk, chat=OuterRef("chat_id"), messenger=OuterRef("dialog__messenger")
    )


def offered_elsewhere(operator: Operator) -> Q:
    """A waiting request offered to someone other than `operator` now."""
    return (
        Q(status__in=Request.WAITING_STATUSES)
        & Q(offered_to__isnull=False)
        & ~Q(offered_to=operator.pk)
    )


def _listed(operator: Operator) -> QuerySet[Request]:
    """_visible, with what a list row shows of the visitor (their bound customer)."""
    return _visible(operator).select_related("dialog__client__customer_binding__customer")


def requests_for_operator(*, operator: Operator) -> list[dict]:
    """What the console lists: waiting requests of the operator's chats that they are
    eligible for (minus those they rejected), their own open ones, and the first page of
    the latest closed ones they took part in (or could have: closed before anyone took
    it)."""
    return inbox_snapshot(operator=operator)["items"]


def inbox_snapshot(*, operator: Operator) -> dict:
    """The console's list on connect: `items` (as requests_for_operator), `others` (the
    open conversations colleagues hold in the operator's chats: the "all my chats"
    filter; read-only rows), `closed_next` (the cursor of the closed list's next page,
    None when there is none) and `sla` (each served chat's response targets, so the
    page applies the same rule to rows that change live)."""
    waiting = (
        _listed(operator)
        .filter(status__in=Request.WAITING_STATUSES)
        .exclude(rejected_by=operator)
        .order_by("created_at")
    )
    mine = _listed(operator).filter(status=RequestStatus.ACCEPTED, operator=operator)
    others = (
        _listed(operator)
        .filter(status=RequestStatus.ACCEPTED)
        .exclude(operator=operator)
        .order_by("created_at")
    )
    closed, closed_next = _closed_rows(operator, after=None)
    targets = sla_targets(chat_ids=served_chat_ids(operator=operator))
    listed = [*waiting, *mine]
    open_rows = _with_inbox([*listed, *others], operator)
    rows = [inbox_summary(request, sla=targets) for request in open_rows]
    closed_rows = [inbox_summary(request) for request in _with_inbox(closed, operator)]
    return {
        "items": [*sorted(rows[: len(listed)], key=urgency), *closed_rows],
        "others": sorted(rows[len(listed) :], key=urgency),
        "closed_next": closed_next,
        "sla": {
            str(chat_id): {"first": first, "next": later}
            for chat_id, (first, later) in targets.items()
        },
    }


def urgency(row: dict) -> tuple:
    """The list's order (static/console/inbox.js sorts by the same key): rows with an SLA
    deadline first, the earliest first (so the most overdue lead, then the least time
    left), then the visitors waiting longest, then the rest by their opening."""
    never = datetime.max.replace(tzinfo=UTC)

    def moment(value: str | None) -> datetime:
        return datetime.fromisoformat(value) if value else never

    return (
        moment(row.get("sla_deadline")),
        moment(row.get("waiting_since")),
        moment(row["created_at"]),
        row["id"],
    )


def _closed_scope(operator: Operator) -> QuerySet[Request]:
    return _listed(operator).filter(
        Q(status=RequestStatus.CLOSED) & (Q(operator=operator) | Q(operator__isnull=True))
    )


def _closed_rows(operator: Operator, *, after: int | None) -> tuple[list[Request], int | None]:
    """A page of the closed list, newest first (closed_at, then id: a total order, so
    no row is shown twice nor skipped), after the closed request `after` (its id: the
    last row the page shows). Request.DoesNotExist when `after` is not a closed request
    of this list."""
    rows = _closed_scope(operator).order_by("-closed_at", "-pk")
    if after is not None:
        last = _closed_scope(operator).values("closed_at", "pk").get(pk=after)
        rows = rows.filter(
            Q(closed_at__lt=last["closed_at"]) | Q(closed_at=last["closed_at"], pk__lt=last["pk"])
        )
    page = list(rows[: CLOSED_SHOWN + 1])
    more = len(page) > CLOSED_SHOWN
    page = page[:CLOSED_SHOWN]
    return page, (page[-1].pk if more and page else None)


def closed_page(*, operator: Operator, after: int) -> dict:
    """The closed list's page after the closed request `after` (the cursor the previous
    page gave): {"items", "next"}; Request.DoesNotExist for a cursor that is not a
    closed request of this operator's list."""
    rows, following = _closed_rows(operator, after=after)
    return {
        "items": [inbox_summary(request) for request in _with_inbox(rows, operator)],
        "next": following,
    }


def requests_search(*, operator: Operator, query: str) -> list[dict]:
    """Up to SEARCH_SHOWN requests the operator may see (their chats, eligible or held,
    not offered to someone else, not rejected while waiting) whose visitor's name, bound
    customer's name, phone or e-mail, or any message of the dialog contains `query`
    (case-insensitive; a query with digits also matches a phone by its digits alone).
    Newest first. A fixed number of statements, however many match."""
    query = query.strip()
    matches = (
        Q(dialog__client__name__icontains=query)
        | Q(dialog__client__customer_binding__customer__name__icontains=query)
        | Q(dialog__client__customer_binding__customer__email__icontains=query)
        | Q(dialog__client__customer_binding__customer__phone__icontains=query)
        | Exists(Message.objects.filter(dialog_id=OuterRef("dialog_id"), text__icontains=query))
    )
    digits = "".join(character for character in query if character.isdigit())
    if len(digits) >= 2 and digits != query:
        # "+7 (999) 123" finds "+7999123…": phones are stored normalised (E.164)
        matches |= Q(dialog__client__customer_binding__customer__phone__icontains=digits)
    found = list(
        _listed(operator)
        .filter(matches)
        .exclude(Q(status__in=Request.WAITING_STATUSES) & Q(rejected_by=operator))
        .order_by("-created_at", "-pk")[:SEARCH_SHOWN]
    )
    targets = sla_targets(chat_ids={request.chat_id for request in found})
    return [inbox_summary(request, sla=targets) for request in _with_inbox(found, operator)]


def sla_targets(*, chat_ids) -> dict[int, tuple[int, int]]:
    """Each chat's (first response, next response) SLA in seconds, in one statement (a
    chat without settings yet has the defaults)."""
    first_default = HandoffSettings._meta.get_field("sla_first_response_seconds").default
    next_default = HandoffSettings._meta.get_field("sla_next_response_seconds").default
    targets = {chat_id: (first_default, next_default) for chat_id in chat_ids}
    if targets:
        for chat_id, first, later in HandoffSettings.objects.filter(
            chat_id__in=list(targets)
        ).values_list("chat_id", "sla_first_response_seconds", "sla_next_response_seconds"):
            targets[chat_id] = (first, later)
    return targets


def _with_inbox(requests: list[Request], operator: Operator) -> list[Request]:
    """Annotate each request with its inbox row's facts, in one more statement (two
    when open and closed requests are mixed).

    A closed request's row shows its own last exchange: the last message of the
    visitor or an operator up to its closing, not the dialog's last message (a dialog
    that asked for a person three times showed three identical closed rows, each with
    the dialog's last message: the rating prompt)."""
    closed = [request for request in requests if request.status == RequestStatus.CLOSED]
    still_open = [request for request in requests if request.status != RequestStatus.CLOSED]
    if closed and still_open:
        _with_inbox(still_open, operator)
        _with_inbox(closed, operator)
        return requests
    if not requests:
        return []
    dialog_messages = Message.objects.filter(dialog_id=OuterRef("dialog_id"))
    last = dialog_messages.order_by("-sequence")
    if closed:
        last = last.filter(
            created_at__lte=OuterRef("closed_at"),
            author_kind__in=(AuthorKind.CLIENT, AuthorKind.OPERATOR),
        )
    read_to = Coalesce(
        Subquery(
            ConversationRead.objects.filter(
                operator=operator, dialog_id=OuterRef(OuterRef("dialog_id"))
            ).values("last_read_sequence")[:1]
        ),
        Value(0),
    )
    client_since_request = Message.objects.filter(
        dialog_id=OuterRef("dialog_id"),
        author_kind=AuthorKind.CLIENT,
        created_at__gte=OuterRef("created_at"),
    )
    # a person's answer in this request: the last operator message since it opened
    answered = Subquery(
        dialog_messages.filter(
            author_kind=AuthorKind.OPERATOR, created_at__gte=OuterRef("created_at")
        )
        .order_by("-sequence")
        .values("sequence")[:1]
    )
    unanswered = Message.objects.filter(
        dialog_id=OuterRef("dialog_id"),
        author_kind=AuthorKind.CLIENT,
        sequence__gt=OuterRef("answered_sequence"),
    ).order_by("sequence")
    annotated = {
        row["pk"]: row
        for row in Request.objects.filter(pk__in=[request.pk for request in requests])
        .annotate(answered_sequence=answered)
        .annotate(
            last_sequence=Subquery(last.values("sequence")[:1]),
            preview_text=Subquery(last.values("text")[:1]),
            preview_author=Subquery(last.values("author_kind")[:1]),
            last_message_at=Subquery(last.values("created_at")[:1]),
            unread=Coalesce(
                Subquery(
                    client_since_request.filter(sequence__gt=read_to)
                    .values("dialog_id")
                    .annotate(count=Count("pk"))
                    .values("count")[:1],
                    output_field=IntegerField(),
                ),
                Value(0),
            ),
            first_unanswered_at=Subquery(unanswered.values("created_at")[:1]),
        )
        .values(
            "pk",
            "last_sequence",
            "preview_text",
            "preview_author",
            "last_message_at",
            "unread",
            "answered_sequence",
            "first_unanswered_at",
        )
    }
    for request in requests:
        request.inbox = annotated.get(request.pk, {})
    return requests


def inbox_summary(request: Request, *, sla: dict[int, tuple[int, int]] | None = None) -> dict:
    """A request's list row: its summary and its inbox facts (unread visitor messages
    since this operator last read it, the last message, since when the visitor waits:
    from the request's opening until a person answers in it, then from their first
    message after the last answer).
    last_sequence is the last message counted (read in the same statement as the
    count): the console counts an inbox event only for a later one, so an event that
    comes twice, or after the snapshot that counted it, is counted once."""
    summary = request_summary(request)
    inbox = getattr(request, "inbox", {})
    if request.status in Request.WAITING_STATUSES:
        waiting_since = request.created_at
    elif request.status == RequestStatus.ACCEPTED:
        # the visitor waits from the opening until a person answers in this request
        # (whoever accepted it, however late), then from their next message after the
        # last answer; the console applies the same rule live and on a watch's replay
        if inbox.get("answered_sequence") is None:
            waiting_since = request.created_at
        else:
            waiting_since = inbox.get("first_unanswered_at")
    else:
        waiting_since = None
    last_at = inbox.get("last_message_at")
    # the SLA the visitor waits against (what Zendesk and Intercom do): the first
    # response until a person answered in this request, the next response after that
    answered = inbox.get("answered_sequence") is not None
    sla_deadline = sla_seconds = None
    if waiting_since is not None and sla is not None and request.chat_id in sla:
        first, later = sla[request.chat_id]
        sla_seconds = later if answered else first
        sla_deadline = waiting_since + timedelta(seconds=sla_seconds)
    summary.update(
        answered=answered,
        sla_seconds=sla_seconds,
        sla_deadline=sla_deadline.isoformat() if sla_deadline else None,
        last_sequence=inbox.get("last_sequence") or 0,
        unread=inbox.get("unread", 0) if request.status != RequestStatus.CLOSED else 0,
        preview=(inbox.get("preview_text") or "")[:PREVIEW_CHARS],
        preview_author=inbox.get("preview_author"),
        last_message_at=last_at.isoformat() if last_at else None,
        waiting_since=waiting_since.isoformat() if waiting_since else None,
    )
    return summary


def request_get_for_operator(*, operator: Operator, request_id: object) -> Request:
    """The request if this operator may see it; Request.DoesNotExist otherwise."""
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        raise Request.DoesNotExist
    return _visible(operator).get(pk=request_id)


def request_rejected_by(*, request: Request, operator: Operator) -> bool:
    return Request.rejected_by.through.objects.filter(
        request_id=request.pk, operator_id=operator.pk
    ).exists()


def served_chat_ids(*, operator: Operator) -> list[int]:
    return list(operator.chats.values_list("pk", flat=True))


def transfer_targets(*, operator: Operator, request: Request) -> list[dict]:
    """Whom `operator` may hand `request` to, for the console's and Telegram's pickers:
    every other operator serving the request's chat and channel (an operator with no
    channel row for the chat serves all its channels), active accounts only, with their
    presence and load ("2/5": the conversations they hold plus the requests offered to
    them now, as the cap counts it; `offered` is the latter alone). `available` is False
    for an offline one (an expired presence counts as offline) or one at their cap:
    request_transfer refuses those, the pickers show them disabled."""
    now = timezone.now()
    operators = (
        # the rule request_transfer checks (distributor.selectors.operator_serves;
        # active accounts only)
        with_load(managers_eligible(chat_id=request.chat_id, messenger=request.dialog.messenger))
        .exclude(pk=operator.pk)
        .distinct()
        .order_by("display_name", "pk")
    )
    targets = []
    for candidate in operators:
        presence = presence_effective(candidate, now=now)
        targets.append(
            {
                "id": candidate.pk,
                "name": candidate.display_name,
                "presence": presence,
                "load": candidate.load,
                "offered": candidate.offered,
                "max": candidate.max_simultaneous_dialogs,
                "available": presence != Presence.OFFLINE
                and candidate.load < candidate.max_simultaneous_dialogs,
            }
        )
    return targets


def _count(query: QuerySet) -> Coalesce:
    """COUNT(*) of a correlated query, as a subquery (COUNT as a plain function: no
    GROUP BY in the outer query)."""
    counted = query.order_by().annotate(count=Func(F("pk"), function="COUNT")).values("count")
    return Coalesce(Subquery(counted[:1], output_field=IntegerField()), Value(0))


def load_counts() -> tuple[Coalesce, Coalesce]:
    """An operator's load, as the cap counts it, in two correlated counts: the requests
    they hold, and those offered to them now (the outer query's pk is the operator)."""
    held = Request.objects.filter(operator_id=OuterRef("pk"), status=RequestStatus.ACCEPTED)
    offered = Request.objects.filter(
        offered_to_id=OuterRef("pk"), status__in=Request.WAITING_STATUSES
    )
    return _count(held), _count(offered)


def with_load(operators: QuerySet[Operator]) -> QuerySet[Operator]:
    """Annotate `held`, `offered` and `load` (their sum: what the cap counts)."""
    held, offered = load_counts()
    return operators.annotate(held=held, offered=offered).annotate(load=F("held") + F("offered"))


def requests_visible_to(operator: Operator) -> QuerySet[Request]:
    """Every request this operator may see now (the rule the console lists, opens and
    authorises by), for reads that need more than one request."""
    return _visible(operator)


def canned_replies_for_operator(*, operator: Operator, chat_id: int) -> list[dict]:
    """The canned replies of one chat the operator serves (none for a chat they do not),
    as the console's picker needs them, by shortcut."""
    replies = CannedReply.objects.filter(
        chat_id=chat_id, chat__operators=operator, chat__operators__user__is_active=True
    ).order_by("shortcut")[:CANNED_REPLIES_SHOWN]
    return [
        {"shortcut": reply.shortcut, "title": reply.title, "text": reply.text} for reply in replies
    ]
