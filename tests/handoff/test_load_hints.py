"""A manager's stored load hint (Operator.load_hint: held + offered requests), which
automatic distribution orders its candidates by: every service that changes a load
keeps it exact, a refused accept leaves it as it was, and the sweep repairs one that
drifted (a request deleted in Admin) before it drains, so a free manager is never
hidden by it."""

import importlib
import random
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from distributor.enums import DistributionMode, Presence
from distributor.models import Operator
from distributor.services import chat_distribution_for, operator_presence_set
from handoff.enums import CloseReason, RequestStatus
from handoff.models import HandoffSettings, Request
from handoff.selectors import with_load
from handoff.services import (
    HandoffError,
    deadlines_sweep,
    request_accept,
    request_close,
    request_close_by_client,
    request_offer_expire,
    request_open,
    request_reject,
    request_transfer,
    requests_drain,
)
from handoff.services.deadlines import request_expire
from handoff.services.loads import operator_load_hints_repair
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def counted() -> dict[int, int]:
    return dict(with_load(Operator.objects.all()).values_list("pk", "load"))


def hints() -> dict[int, int]:
    return dict(Operator.objects.values_list("pk", "load_hint"))


def chat_in(mode: str, **settings):
    chat = ChatFactory()
    distribution = chat_distribution_for(chat)
    distribution.mode = mode
    distribution.save()
    if settings:
        HandoffSettings.objects.filter(chat=chat).update(**settings)
    return chat


def managers(chat, count: int, *, cap: int = 3) -> list[Operator]:
    return [
        OperatorFactory(chats=[chat], presence=Presence.ONLINE, max_simultaneous_dialogs=cap)
        for _ in range(count)
    ]


def open_one(chat) -> Request:
    return request_open(dialog=DialogFactory(client__chat=chat), reason="headset")


@pytest.mark.parametrize("mode", [DistributionMode.AUTOMATIC, DistributionMode.BROADCAST])
def test_every_service_that_changes_a_load_keeps_the_hint_exact(mode):
    """A seeded random walk through every service that offers, accepts, passes on,
    closes, transfers or expires a request, and every presence change; after each step
    every manager's hint is their count."""
    rng = random.Random(20261201)
    chat = chat_in(mode)
    team = managers(chat, 4, cap=2)
    other = chat_in(mode)
    team += managers(other, 2, cap=1)
    for manager in team[:2]:
        manager.chats.add(other)
    chats = [chat, other]
    actions = [
        "open",
        "accept",
        "reject",
        "close",
        "client_leaves",
        "transfer",
        "to_bot",
        "offer_times_out",
        "presence",
        "drain",
        "accept_times_out",
    ]
    done: dict[str, int] = {action: 0 for action in actions}
    caps = {manager.pk: manager.max_simultaneous_dialogs for manager in team}
    reached_cap = False
    for _step in range(300):
        action = rng.choice(actions)
        waiting = list(Request.objects.filter(status__in=Request.WAITING_STATUSES))
        held = list(Request.objects.filter(status=RequestStatus.ACCEPTED))
        try:
            if action == "open":
                open_one(rng.choice(chats))
            elif action == "accept" and waiting:
                request = rng.choice(waiting)
                who = request.offered_to or rng.choice(team)
                request_accept(request=request, operator=Operator.objects.get(pk=who.pk))
            elif action == "reject" and waiting:
                request = rng.choice(waiting)
                who = request.offered_to or rng.choice(team)
                request_reject(request=request, operator=who)
            elif action == "close" and held:
                request = rng.choice(held)
                request_close(request=request, reason=CloseReason.OPERATOR, actor=request.operator)
            elif action == "client_leaves" and (waiting or held):
                request_close_by_client(dialog=rng.choice(waiting + held).dialog)
            elif action in ("transfer", "to_bot") and held:
                request = rng.choice(held)
                target = None if action == "to_bot" else rng.choice(team)
                request_transfer(
                    request=request, operator=request.operator, to_operator=target, reason="r"
                )
            elif action == "offer_times_out":
                offered = [request for request in waiting if request.offered_to_id]
                if offered:
                    request = rng.choice(offered)
                    Request.objects.filter(pk=request.pk).update(
                        offer_deadline=timezone.now() - timedelta(seconds=1)
                    )
                    request_offer_expire(request=request)
            elif action == "presence":
                operator_presence_set(
                    operator=rng.choice(team),
                    presence=rng.choice([Presence.ONLINE, Presence.AWAY, Presence.OFFLINE]),
                )
            elif action == "drain":
                requests_drain(chat_ids=None)
            elif action == "accept_times_out":
                pending = [request for request in waiting if request.status == "pending"]
                if pending:
                    request = rng.choice(pending)
                    Request.objects.filter(pk=request.pk).update(
                        accept_deadline=timezone.now() - timedelta(seconds=1)
                    )
                    request_expire(request=request)
            else:
                continue
        except HandoffError:
            pass  # refused (at cap, offered to another, not theirs): changes nothing
        done[action] += 1
        loads = counted()
        assert hints() == loads, f"after {action}"
        reached_cap = reached_cap or any(loads[pk] >= caps[pk] for pk in caps)
    # every kind of step ran, and someone reached their cap on the way
    assert all(done.values()), done
    assert reached_cap


def test_a_refused_accept_leaves_the_hint_as_it_was():
    chat = chat_in(DistributionMode.BROADCAST)
    (olga,) = managers(chat, 1, cap=1)
    request_accept(request=open_one(chat), operator=olga)
    with pytest.raises(HandoffError):
        request_accept(request=open_one(chat), operator=olga)
    olga.refresh_from_db()
    assert olga.load_hint == 1


def test_an_offered_request_accepted_counts_once():
    chat = chat_in(DistributionMode.AUTOMATIC)
    (olga,) = managers(chat, 1)
    request = open_one(chat)
    olga.refresh_from_db()
    assert (Request.objects.get(pk=request.pk).offered_to_id, olga.load_hint) == (olga.pk, 1)
    request_accept(request=request, operator=olga)
    olga.refresh_from_db()
    assert olga.load_hint == 1


def test_a_hint_too_low_never_puts_anyone_over_their_cap():
    """The cap is judged by counting under the manager's lock, not by the hint: a
    manager whose hint says 0 while they hold their cap is passed over."""
    chat = chat_in(DistributionMode.AUTOMATIC)
    (olga,) = managers(chat, 1, cap=1)
    request_accept(request=open_one(chat), operator=olga)
    Operator.objects.filter(pk=olga.pk).update(load_hint=0)
    request = open_one(chat)
    assert Request.objects.get(pk=request.pk).offered_to is None
    assert counted() == {olga.pk: 1}
    olga.refresh_from_db()
    assert olga.load_hint == 0  # the refused offer added nothing


def test_the_sweep_repairs_a_drifted_hint_before_it_drains():
    """A request deleted in Admin leaves its manager's hint one too high: with a cap of
    1 they look full and the waiting request is offered to nobody, until the sweep
    counts again; then the same sweep offers it to them."""
    chat = chat_in(DistributionMode.AUTOMATIC)
    (olga,) = managers(chat, 1, cap=1)
    first = open_one(chat)
    request_accept(request=first, operator=olga)
    second = open_one(chat)
    assert Request.objects.get(pk=second.pk).offered_to is None
    Request.objects.filter(pk=first.pk).delete()
    olga.refresh_from_db()
    assert olga.load_hint == 1  # drifted: she holds nothing now
    requests_drain(chat_ids=[chat.pk])
    assert Request.objects.get(pk=second.pk).offered_to is None  # hidden by the hint
    deadlines_sweep()
    olga.refresh_from_db()
    assert olga.load_hint == 1
    assert Request.objects.get(pk=second.pk).offered_to_id == olga.pk


def test_repair_counts_only_what_drifted_and_is_idempotent():
    chat = chat_in(DistributionMode.BROADCAST)
    olga, ivan, anna = managers(chat, 3)
    request_accept(request=open_one(chat), operator=olga)
    request_accept(request=open_one(chat), operator=ivan)
    Operator.objects.filter(pk=ivan.pk).update(load_hint=7)
    Operator.objects.filter(pk=anna.pk).update(load_hint=-2)
    assert operator_load_hints_repair() == 2
    assert hints() == {olga.pk: 1, ivan.pk: 1, anna.pk: 0}
    assert operator_load_hints_repair() == 0


def test_the_migration_counts_the_loads_already_there():
    chat = chat_in(DistributionMode.AUTOMATIC)
    olga, ivan = managers(chat, 2)
    request_accept(request=open_one(chat), operator=olga)
    open_one(chat)  # offered to ivan, the least loaded
    Operator.objects.update(load_hint=0)
    migration = importlib.import_module("handoff.migrations.0013_operator_load_hints_counted")
    migration.count_loads(apps, None)
    assert hints() == {olga.pk: 1, ivan.pk: 1}


def test_saving_a_manager_in_admin_keeps_a_load_change_made_meanwhile(admin_client, monkeypatch):
    """The Admin reads the manager, validates the form, then saves the instance it
    read: a request accepted in between (its load hint +1, committed) must not be
    written back to the hint the Admin read."""
    from distributor.admin import OperatorForm

    chat = chat_in(DistributionMode.BROADCAST)
    (olga,) = managers(chat, 1)
    request = open_one(chat)
    clean = OperatorForm.clean

    def clean_while_she_accepts(form):
        request_accept(request=request, operator=Operator.objects.get(pk=olga.pk))
        return clean(form)

    monkeypatch.setattr(OperatorForm, "clean", clean_while_she_accepts)
    response = admin_client.post(
        f"/admin/distributor/operator/{olga.pk}/change/",
        {
            "user": str(olga.user_id),
            "display_name": "Olga",
            "chats": [str(chat.pk)],
            "max_simultaneous_dialogs": "4",
            "channels-TOTAL_FORMS": "0",
            "channels-INITIAL_FORMS": "0",
            "channels-MIN_NUM_FORMS": "0",
            "channels-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302
    olga.refresh_from_db()
    assert (olga.display_name, olga.max_simultaneous_dialogs) == ("Olga", 4)
    assert counted() == {olga.pk: 1}
    assert olga.load_hint == 1
