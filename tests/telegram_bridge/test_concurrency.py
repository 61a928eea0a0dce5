"""Exactly one owner across surfaces: a console operator and two Telegram operators
accept the same request at once. Real row locks on PostgreSQL (make test runs it
there too); SQLite's IMMEDIATE transactions serialise the same code."""

from __future__ import annotations

import pytest
from django.db import connection

from handoff.enums import RequestStatus
from handoff.models import Request, RequestEvent
from handoff.services import RequestAlreadyTaken, request_accept, request_open
from telegram_bridge.models import AlertState, OperatorAlert, OperatorSession
from telegram_bridge.services.operators import connect_link_create, operator_accept
from tests.chats.factories import DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.telegram_bridge.telegram_updates import text_update
from tests.threads import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 30 if connection.vendor == "postgresql" else 5
TELEGRAM_USERS = (801, 802)


def test_console_and_two_telegram_operators_accepting_at_once_leave_one_owner(telegram_world):
    world = telegram_world
    chat = world.bot.chat
    # every round leaves its winner one more accepted request: their cap must allow it
    console_operator = OperatorFactory(
        display_name="Console Carla", chats=[chat], max_simultaneous_dialogs=ROUNDS
    )
    for index, user_id in enumerate(TELEGRAM_USERS):
        operator = OperatorFactory(
            display_name=f"Telegram {index}", chats=[chat], max_simultaneous_dialogs=ROUNDS
        )
        link = connect_link_create(bot=world.bot, operator=operator)
        world.receive(
            text_update(world.next_update_id(), user_id=user_id, text=f"/start {link.token}")
        )
    world.settle()
    accounts = list(world.bot.operator_accounts.select_related("operator", "bot__chat"))
    assert len(accounts) == 2
    for _round in range(ROUNDS):
        request = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
        world.settle()  # the two alerts go out
        console_refusals: list[RequestAlreadyTaken] = []

        def accept(index: int, request=request, refusals=console_refusals) -> None:
            if index == 0:
                try:
                    request_accept(
                        request=Request.objects.get(pk=request.pk), operator=console_operator
                    )
                except RequestAlreadyTaken as refusal:
                    refusals.append(refusal)
            else:
                operator_accept(account=accounts[index - 1], request_id=request.pk)

        assert run_in_threads(3, accept) == []
        world.settle()
        request.refresh_from_db()
        assert request.status == RequestStatus.ACCEPTED
        assert RequestEvent.objects.filter(request=request, to_status="accepted").count() == 1
        owner = request.operator
        # the rest are told: the console loser by the refusal, Telegram losers by the edit
        telegram_owner = owner != console_operator
        assert len(console_refusals) == (1 if telegram_owner else 0)
        states = dict(
            OperatorAlert.objects.filter(request=request).values_list("account__operator", "state")
        )
        for account in accounts:
            expected = AlertState.ACCEPTED if account.operator == owner else AlertState.TAKEN
            assert states[account.operator_id] == expected
        assert OperatorSession.objects.filter(request=request).count() == (
            1 if telegram_owner else 0
        )
        loser_ids = [account.telegram_user_id for account in accounts if account.operator != owner]
        for user_id in loser_ids:
            assert f"Taken by {owner.display_name}." in world.texts_to(user_id)[-1]
