"""The console's per-frame session check (handoff.selectors.console_session_confirm):
after one full check, one raw read answers exactly what the full check would."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from distributor.models import Operator
from handoff.access import ConsoleSession
from handoff.selectors import console_session_confirm
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def open_console_session(operator: Operator) -> ConsoleSession:
    client = Client()
    client.force_login(operator.user)
    session = ConsoleSession(
        session_key=client.cookies["sessionid"].value,
        user_id=operator.user_id,
        operator_id=operator.pk,
    )
    first, logged_in = console_session_confirm(session=session)
    assert (first, logged_in) == (operator, True)
    return session


def test_the_read_after_the_full_check_returns_the_profile_as_stored_now():
    operator = OperatorFactory(display_name="Olga")
    session = open_console_session(operator)
    Operator.objects.filter(pk=operator.pk).update(
        display_name="Olga B.", max_simultaneous_dialogs=7
    )
    with CaptureQueriesContext(connection) as queries:
        confirmed, logged_in = console_session_confirm(session=session)
    assert len(queries) == 1
    assert logged_in
    assert (confirmed.pk, confirmed.user_id, confirmed.display_name) == (
        operator.pk,
        operator.user_id,
        "Olga B.",
    )
    assert confirmed.max_simultaneous_dialogs == 7
    assert confirmed.user == operator.user
    assert not confirmed._state.adding  # a saved row: services may save or relate it


def test_a_deactivated_account_ends_the_session_at_the_next_frame():
    operator = OperatorFactory()
    session = open_console_session(operator)
    get_user_model().objects.filter(pk=operator.user_id).update(is_active=False)
    assert console_session_confirm(session=session) == (None, False)


def test_a_profile_moved_to_another_user_is_not_confirmed():
    operator, other = OperatorFactory(), OperatorFactory()
    session = open_console_session(operator)
    Operator.objects.filter(pk=operator.pk).delete()
    Operator.objects.filter(pk=other.pk).update(user=operator.user)
    confirmed, logged_in = console_session_confirm(session=session)
    assert confirmed is None
    assert logged_in  # still logged in, but no longer that profile's user
