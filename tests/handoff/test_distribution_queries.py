"""Distribution: what one decision costs in statements (bench/distribution.py times
them), and that the one-query route read agrees with the full read."""

import pytest
from django.db import transaction
from django.utils import timezone

from distributor.enums import DistributionMode, Presence, RouteTarget
from distributor.models import ApiBot, RoutingRule
from distributor.selectors import DEFAULT_ROUTE, route_fresh, routes_read
from distributor.services import api_key_create, chat_distribution_for
from handoff.enums import RequestStatus
from handoff.models import Request
from handoff.services import request_accept, request_open
from handoff.services.assignment import Offer, offer_next
from handoff.services.lifecycle import request_lock
from tests.chats.factories import ChatFactory, ClientFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def manager(chat, name, *, cap=5, presence=Presence.ONLINE):
    return OperatorFactory(
        display_name=name, chats=[chat], presence=presence, max_simultaneous_dialogs=cap
    )


def waiting_request(chat) -> Request:
    """A request opened in broadcast mode (offered to nobody), the chat then switched
    to automatic."""
    dialog = DialogFactory(client=ClientFactory(chat=chat, messenger="web"))
    request = request_open(dialog=dialog, reason="headset")
    distribution = chat_distribution_for(chat)
    distribution.mode = DistributionMode.AUTOMATIC
    distribution.save()
    return request


def test_an_offer_costs_four_statements(django_assert_num_queries):
    chat = ChatFactory()
    for index in range(20):
        manager(chat, f"Manager {index}")
    request = waiting_request(chat)
    distribution = chat_distribution_for(chat)
    route = route_fresh(chat_id=chat.pk, messenger="web")
    with transaction.atomic():
        dialog, locked = request_lock(request)
        # who (chosen by load hint and locked at once), the offer (written only if their
        # load, counted again in the same statement, is under their cap), their load
        # hint, the event
        with django_assert_num_queries(4):
            outcome = offer_next(
                dialog, locked, distribution=distribution, route=route, now=timezone.now()
            )
    assert outcome == Offer.OFFERED
    offered_to = Request.objects.get(pk=request.pk).offered_to
    assert offered_to is not None and offered_to.load_hint == 1


def test_nobody_free_at_open_costs_one_statement(django_assert_num_queries):
    chat = ChatFactory()
    full = manager(chat, "Full", cap=1)
    request_accept(request=waiting_request(chat), operator=full)
    request = waiting_request(chat)
    distribution = chat_distribution_for(chat)
    route = route_fresh(chat_id=chat.pk, messenger="web")
    with transaction.atomic():
        dialog, locked = request_lock(request)
        with django_assert_num_queries(1):
            outcome = offer_next(
                dialog,
                locked,
                distribution=distribution,
                route=route,
                now=timezone.now(),
                passed_possible=False,
            )
    assert outcome == Offer.NOBODY_FREE
    stored = Request.objects.get(pk=request.pk)
    assert (stored.status, stored.offered_to) == (RequestStatus.PENDING, None)


def test_a_free_manager_who_passed_makes_it_not_now_rather_than_nobody_free():
    chat = ChatFactory()
    olga = manager(chat, "Olga")
    request = waiting_request(chat)
    request.rejected_by.add(olga)
    with transaction.atomic():
        dialog, locked = request_lock(request)
        outcome = offer_next(
            dialog, locked, distribution=chat_distribution_for(chat), now=timezone.now()
        )
    assert outcome == Offer.NOT_NOW
    assert Request.objects.get(pk=request.pk).offered_to is None


def test_route_fresh_reads_one_statement_and_agrees_with_the_full_read(
    django_assert_num_queries,
):
    chat = ChatFactory()
    distribution = chat_distribution_for(chat)
    olga, ivan = manager(chat, "Olga"), manager(chat, "Ivan")
    to_managers = RoutingRule.objects.create(
        distribution=distribution, messenger="web", target=RouteTarget.MANAGERS
    )
    to_managers.managers.add(olga, ivan)
    RoutingRule.objects.create(
        distribution=distribution, messenger="telegram", target=RouteTarget.MANAGERS
    )
    key, _token = api_key_create(name="bot", scopes=[], chats=[chat])
    bot = ApiBot.objects.create(
        name="Helper", api_key=key, webhook_url="https://bot.example.com/hook", signing_secret="s"
    )
    RoutingRule.objects.create(
        distribution=distribution, messenger="whatsapp", target=RouteTarget.BOT, api_bot=bot
    )
    every = routes_read(chat_id=chat.pk)
    for messenger in ("web", "telegram", "whatsapp", "vk"):
        with django_assert_num_queries(1):
            found = route_fresh(chat_id=chat.pk, messenger=messenger)
        assert found == every.get(messenger, DEFAULT_ROUTE)
    assert route_fresh(chat_id=chat.pk, messenger="web").manager_ids == {olga.pk, ivan.pk}
    assert route_fresh(chat_id=chat.pk, messenger="vk") == DEFAULT_ROUTE
