"""Distributor reads: where a chat's channel is routed, and which managers may take
its requests.

The route of a channel is asked on every client message (whether the chat's scripts
answer it): each process keeps the routes of a chat under the chat's scripts_version,
which message_post reads with the dialog anyway, so the message path asks nothing
more. Saving or deleting a routing rule bumps that version (RoutingRule.save/delete)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from chats.models import Chat
from distributor.enums import Presence, RouteTarget
from distributor.models import Operator, OperatorChannel, RoutingRule


@dataclass(frozen=True)
class Route:
    """Where one channel of a chat goes. `manager_ids` empty: every manager serving
    the chat and channel. `api_bot_id` (with target bot): an API bot, not the chat's
    scripts, answers."""

    target: str = RouteTarget.BOT
    manager_ids: frozenset[int] = frozenset()
    api_bot_id: int | None = None

    @property
    def to_managers(self) -> bool:
        return self.target == RouteTarget.MANAGERS

    @property
    def to_api_bot(self) -> bool:
        return self.target == RouteTarget.BOT and self.api_bot_id is not None

    @property
    def scripts_answer(self) -> bool:
        """Whether the chat's own scripts greet and answer clients of this channel."""
        return not (self.to_managers or self.to_api_bot)


# no rule: the chat's scripts, and requests to every manager serving the channel
DEFAULT_ROUTE = Route()

# chat id -> (the chat's scripts_version they were read under, {messenger: route})
_routes: dict[int, tuple[int, dict[str, Route]]] = {}


def routes_read(*, chat_id: int) -> dict[str, Route]:
    """Every routed channel of the chat, read now (two queries)."""
    managers: dict[int, set[int]] = {}
    for rule_id, operator_id in RoutingRule.managers.through.objects.filter(
        routingrule__distribution__chat_id=chat_id
    ).values_list("routingrule_id", "operator_id"):
        managers.setdefault(rule_id, set()).add(operator_id)
    return {
        messenger: Route(
            target=target,
            manager_ids=frozenset(managers.get(rule_id, ())),
            api_bot_id=api_bot_id,
        )
        for rule_id, messenger, target, api_bot_id in RoutingRule.objects.filter(
            distribution__chat_id=chat_id
        ).values_list("pk", "messenger", "target", "api_bot_id")
    }


def route_for(*, chat_id: int, messenger: str, version: int | None = None) -> Route:
    """The route of a chat's channel, from this process's copy when it was read under
    `version` (the chat's scripts_version the caller read with the dialog: no query
    then); otherwise read (without `version`, one more query reads it).

    For deciding who gets a request, use route_fresh: a rule's managers may change
    without a save of the rule."""
    if version is None:
        version = Chat.objects.values_list("scripts_version", flat=True).get(pk=chat_id)
    cached = _routes.get(chat_id)
    if cached is not None and cached[0] == version:
        return cached[1].get(messenger, DEFAULT_ROUTE)
    # read after `version`: never older than it (a change committed since gives a newer
    # copy, replaced by the next caller that brings the newer version)
    routes = routes_read(chat_id=chat_id)
    _routes[chat_id] = (version, routes)
    return routes.get(messenger, DEFAULT_ROUTE)


def route_fresh(*, chat_id: int, messenger: str) -> Route:
    """The route of a chat's channel as stored now (one query: the channel's rule
    joined with its managers; at most one rule per channel)."""
    rows = list(
        RoutingRule.objects.filter(distribution__chat_id=chat_id, messenger=messenger)
        .order_by()
        .values_list("target", "api_bot_id", "managers")
    )
    if not rows:
        return DEFAULT_ROUTE
    target, api_bot_id, _manager = rows[0]
    return Route(
        target=target,
        manager_ids=frozenset(manager for _t, _b, manager in rows if manager is not None),
        api_bot_id=api_bot_id,
    )


def serves_channel(*, chat_id: int, messenger: str, operator_field: str = "pk") -> Q:
    """A filter on operators (reached by `operator_field`) serving the chat and its
    channel: the chat is theirs, and they have no channel row for it (every channel) or
    one for this messenger."""
    rows = OperatorChannel.objects.filter(operator_id=OuterRef(operator_field), chat_id=chat_id)
    return Q(~Exists(rows) | Exists(rows.filter(messenger=messenger)))


def managers_eligible(
    *, chat_id: int, messenger: str, manager_ids: frozenset[int] | set[int] = frozenset()
) -> QuerySet[Operator]:
    """The managers who may take a request of this chat and channel, whatever their
    presence: with an active account, serving the chat and the channel, and in the
    route's set when it has one."""
    query = Operator.objects.filter(chats=chat_id, user__is_active=True).filter(
        serves_channel(chat_id=chat_id, messenger=messenger)
    )
    if manager_ids:
        query = query.filter(pk__in=manager_ids)
    return query


def managers_for_route(*, chat_id: int, messenger: str) -> QuerySet[Operator]:
    """managers_eligible for the channel's route as stored now."""
    route = route_fresh(chat_id=chat_id, messenger=messenger)
    return managers_eligible(chat_id=chat_id, messenger=messenger, manager_ids=route.manager_ids)


def eligible_filter(*, operator, chat, messenger) -> Q:
    """managers_eligible's rule (but serving the chat) as a filter whose operands may be
    values or expressions on the filtered rows (OuterRef), with the route's manager set
    read as stored now, in the same statement: the operator serves the channel in the
    chat (no channel row for the chat, or one for this messenger), and is in the set
    of the channel's routing rule when it has one. On requests: operator=<id>,
    chat=OuterRef("chat_id"), messenger=OuterRef("dialog__messenger"); on operators:
    operator=OuterRef("pk") with the chat and messenger as values."""
    rows = OperatorChannel.objects.filter(operator_id=operator, chat_id=chat)
    chosen = RoutingRule.managers.through.objects.filter(
        routingrule__distribution__chat_id=chat, routingrule__messenger=messenger
    )
    return Q(~Exists(rows) | Exists(rows.filter(messenger=messenger))) & Q(
        ~Exists(chosen) | Exists(chosen.filter(operator_id=operator))
    )


def managers_eligible_now(*, chat_id: int, messenger: str) -> QuerySet[Operator]:
    """managers_for_route in one statement (the route's set read inside it)."""
    return Operator.objects.filter(chats=chat_id, user__is_active=True).filter(
        eligible_filter(operator=OuterRef("pk"), chat=chat_id, messenger=messenger)
    )


def operator_serves(*, operator: Operator | int, chat_id: int, messenger: str) -> bool:
    """Whether the operator serves the chat and its channel (one query)."""
    operator_id = operator if isinstance(operator, int) else operator.pk
    return managers_eligible(chat_id=chat_id, messenger=messenger).filter(pk=operator_id).exists()


def online_filter(*, now, operator_field: str = "") -> Q:
    """Operators ONLINE at `now` (an expired presence is offline before the sweep
    writes it)."""
    prefix = f"{operator_field}__" if operator_field else ""
    return Q(**{f"{prefix}presence": Presence.ONLINE}) & (
        Q(**{f"{prefix}presence_expires_at__isnull": True})
        | Q(**{f"{prefix}presence_expires_at__gt": now})
    )
