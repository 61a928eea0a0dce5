"""Managers' presence: set, renewed by a heartbeat, expired by the sweep; coming online
schedules the drain of waiting requests after commit."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from distributor.enums import Presence
from distributor.models import Operator
from distributor.services import (
    operator_presence_renew,
    operator_presence_set,
    presence_effective,
    presences_expire,
)
from tests.chats.factories import ChatFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def stored(operator) -> Operator:
    return Operator.objects.get(pk=operator.pk)


def test_going_online_records_the_change_and_schedules_a_drain(django_capture_on_commit_callbacks):
    operator = OperatorFactory(chats=[ChatFactory()])
    now = timezone.now()
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        operator_presence_set(operator=operator, presence="online", now=now)
    # then
    row = stored(operator)
    assert (row.presence, row.presence_changed_at, row.presence_expires_at) == (
        Presence.ONLINE,
        now,
        None,
    )
    assert len(callbacks) == 1


def test_setting_the_same_presence_again_changes_only_the_expiry_and_drains_nothing(
    django_capture_on_commit_callbacks,
):
    operator = OperatorFactory()
    first = timezone.now()
    operator_presence_set(operator=operator, presence="online", now=first)
    later = first + timedelta(seconds=5)
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        operator_presence_set(
            operator=operator, presence="online", expires_at=later + timedelta(minutes=1), now=later
        )
    # then
    row = stored(operator)
    expected = (first, later + timedelta(minutes=1))
    assert (row.presence_changed_at, row.presence_expires_at) == expected
    assert callbacks == []


def test_going_away_drains_nothing(django_capture_on_commit_callbacks):
    operator = OperatorFactory(presence=Presence.ONLINE)
    with django_capture_on_commit_callbacks() as callbacks:
        operator_presence_set(operator=operator, presence=Presence.AWAY)
    assert stored(operator).presence == Presence.AWAY
    assert callbacks == []


def test_offline_never_keeps_an_expiry():
    operator = OperatorFactory()
    now = timezone.now()
    later = now + timedelta(hours=1)
    operator_presence_set(operator=operator, presence="offline", expires_at=later)
    assert (stored(operator).presence, stored(operator).presence_expires_at) == ("offline", None)


@pytest.mark.parametrize("presence", ["", "busy", "ONLINE", None, 5])
def test_an_unknown_presence_is_refused_and_nothing_changes(presence):
    operator = OperatorFactory(presence=Presence.AWAY)
    with pytest.raises(ValidationError) as refused:
        operator_presence_set(operator=operator, presence=presence)
    assert refused.value.code == "invalid_presence"
    assert "online, away or offline" in refused.value.messages[0]
    assert (stored(operator).presence, stored(operator).presence_changed_at) == ("away", None)


def test_an_expiry_in_the_past_is_refused_and_nothing_changes():
    operator = OperatorFactory()
    now = timezone.now()
    with pytest.raises(ValidationError) as refused:
        operator_presence_set(
            operator=operator, presence="online", expires_at=now - timedelta(seconds=1), now=now
        )
    assert refused.value.code == "expiry_in_past"
    assert stored(operator).presence == Presence.OFFLINE


def test_the_heartbeat_pushes_the_expiry_forward_while_online_or_away():
    operator = OperatorFactory()
    now = timezone.now()
    operator_presence_set(
        operator=operator, presence="away", expires_at=now + timedelta(seconds=30), now=now
    )
    # when
    renewed = operator_presence_renew(operator=operator, until=now + timedelta(seconds=90))
    # then
    assert renewed
    assert stored(operator).presence_expires_at == now + timedelta(seconds=90)


def test_the_heartbeat_never_shortens_an_expiry():
    operator = OperatorFactory()
    now = timezone.now()
    operator_presence_set(
        operator=operator, presence="online", expires_at=now + timedelta(minutes=5), now=now
    )
    assert not operator_presence_renew(operator=operator, until=now + timedelta(minutes=1))
    assert stored(operator).presence_expires_at == now + timedelta(minutes=5)


def test_the_heartbeat_gives_no_expiry_to_a_presence_set_without_one():
    operator = OperatorFactory()
    operator_presence_set(operator=operator, presence="online")
    assert not operator_presence_renew(
        operator=operator, until=timezone.now() + timedelta(minutes=1)
    )
    assert stored(operator).presence_expires_at is None


def test_the_heartbeat_does_not_bring_back_an_offline_manager():
    operator = OperatorFactory(presence=Presence.OFFLINE)
    assert not operator_presence_renew(
        operator=operator, until=timezone.now() + timedelta(minutes=1)
    )
    assert (stored(operator).presence, stored(operator).presence_expires_at) == ("offline", None)


def test_expired_presences_go_offline_once():
    now = timezone.now()
    stale = OperatorFactory()
    fresh = OperatorFactory()
    forever = OperatorFactory()
    operator_presence_set(
        operator=stale, presence="online", expires_at=now + timedelta(seconds=10), now=now
    )
    operator_presence_set(
        operator=fresh, presence="online", expires_at=now + timedelta(minutes=10), now=now
    )
    operator_presence_set(operator=forever, presence="away", now=now)
    later = now + timedelta(seconds=11)
    # when
    first = presences_expire(now=later)
    second = presences_expire(now=later)
    # then
    assert (first, second) == (1, 0)
    assert (stored(stale).presence, stored(stale).presence_changed_at) == ("offline", later)
    assert stored(stale).presence_expires_at is None
    assert (stored(fresh).presence, stored(forever).presence) == ("online", "away")


def test_an_expired_presence_counts_as_offline_before_the_sweep():
    now = timezone.now()
    operator = OperatorFactory()
    operator_presence_set(
        operator=operator, presence="online", expires_at=now + timedelta(seconds=10), now=now
    )
    assert presence_effective(stored(operator), now=now) == Presence.ONLINE
    assert presence_effective(stored(operator), now=now + timedelta(seconds=10)) == Presence.OFFLINE


def test_coming_back_online_after_an_expiry_records_a_change_and_drains(
    django_capture_on_commit_callbacks,
):
    now = timezone.now()
    operator = OperatorFactory(chats=[ChatFactory()])
    operator_presence_set(
        operator=operator, presence="online", expires_at=now + timedelta(seconds=10), now=now
    )
    later = now + timedelta(seconds=20)  # expired, not swept yet
    with django_capture_on_commit_callbacks() as callbacks:
        operator_presence_set(
            operator=operator, presence="online", expires_at=later + timedelta(minutes=1), now=later
        )
    assert stored(operator).presence_changed_at == later
    assert len(callbacks) == 1
