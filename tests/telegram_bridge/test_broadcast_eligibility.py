"""Broadcast distribution (issue 11) on Telegram: a request's alert reaches exactly the
managers eligible for its chat, channel and route (distributor.selectors), and an Accept
from anyone else is refused with nothing changed. Through the fake Bot API server."""

from __future__ import annotations

import pytest

from chats.enums import Messenger
from distributor.enums import RouteTarget
from distributor.models import OperatorChannel, RoutingRule
from distributor.services import chat_distribution_for
from handoff.enums import RequestStatus
from handoff.models import Request, RequestEvent
from handoff.services import request_open
from telegram_bridge.models import AlertState, OperatorAlert
from tests.chats.factories import ChatFactory, DialogFactory
from tests.telegram_bridge.test_operators import (
    CLIENT,
    OLGA,
    PETE,
    accept,
    alerts_to,
    ask_for_human,
    connect,
    last_text_to,
    press,
)

pytestmark = pytest.mark.django_db(transaction=True)


def web_request(world) -> Request:
    """A visitor of the bot's chat asks for a person on the web widget."""
    request = request_open(dialog=DialogFactory(client__chat=world.bot.chat), reason="headset")
    world.settle()
    return request


def serves_only(operator, chat, messenger: str) -> None:
    OperatorChannel.objects.create(operator=operator, chat=chat, messenger=messenger)


def rule(chat, messenger: str, managers) -> RoutingRule:
    routing = RoutingRule.objects.create(
        distribution=chat_distribution_for(chat), messenger=messenger, target=RouteTarget.MANAGERS
    )
    routing.managers.set(managers)
    return routing


def untouched(request: Request) -> tuple:
    fresh = Request.objects.get(pk=request.pk)
    return fresh.status, fresh.operator_id, RequestEvent.objects.filter(request=request).count()


def test_a_manager_serving_only_telegram_gets_no_alert_for_a_web_request(telegram_world):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    connect(world, PETE, "Pete")  # no channel row: every channel
    serves_only(olga, world.bot.chat, Messenger.TELEGRAM)
    # when
    request = web_request(world)
    # then
    assert alerts_to(world, OLGA, request) == []
    assert len(alerts_to(world, PETE, request)) == 1
    # while a Telegram client's request reaches both
    telegram = ask_for_human(world)
    assert len(alerts_to(world, OLGA, telegram)) == 1
    assert len(alerts_to(world, PETE, telegram)) == 1


def test_a_manager_serving_only_the_web_gets_no_alert_for_a_telegram_request(telegram_world):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    serves_only(olga, world.bot.chat, Messenger.WEB)
    request = ask_for_human(world)
    assert alerts_to(world, OLGA, request) == []
    assert OperatorAlert.objects.filter(request=request).count() == 0


def test_a_rules_manager_set_limits_the_alerts_to_it(telegram_world):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    pete = connect(world, PETE, "Pete")
    rule(world.bot.chat, Messenger.TELEGRAM, [pete])
    # when
    request = ask_for_human(world)
    # then
    assert alerts_to(world, OLGA, request) == []
    assert len(alerts_to(world, PETE, request)) == 1
    # a rule of another channel does not limit this one
    rule(world.bot.chat, Messenger.WEB, [olga])
    other = ask_for_human(world, user_id=CLIENT + 10, first_name="Bob")
    assert alerts_to(world, OLGA, other) == []
    assert len(alerts_to(world, PETE, other)) == 1


def test_an_accept_tapped_by_a_manager_left_out_of_the_rule_is_refused(telegram_world):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    pete = connect(world, PETE, "Pete")
    request = ask_for_human(world)
    assert len(alerts_to(world, OLGA, request)) == 1
    # when: the channel is routed to Pete alone, and Olga taps Accept on her old alert
    rule(world.bot.chat, Messenger.TELEGRAM, [pete])
    before = untouched(request)
    press(world, f"a:{request.pk}", user_id=OLGA)
    # then: nothing changed, her alert lost its buttons and says why; Pete may take it
    assert untouched(request) == before
    assert last_text_to(world, OLGA).endswith("This request is for other managers.")
    alert = OperatorAlert.objects.get(request=request, account__operator=olga)
    assert alert.state == AlertState.MOVED
    accept(world, PETE, request)
    request.refresh_from_db()
    assert (request.status, request.operator_id) == (RequestStatus.ACCEPTED, pete.pk)


def test_an_accept_of_another_chats_request_changes_nothing_as_before(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    foreign = request_open(dialog=DialogFactory(client__chat=ChatFactory()), reason="headset")
    before = untouched(foreign)
    told = world.texts_to(OLGA)
    # when
    press(world, f"a:{foreign.pk}", user_id=OLGA)
    # then
    assert untouched(foreign) == before
    assert world.texts_to(OLGA) == told  # nothing said either, as before
