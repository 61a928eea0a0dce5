"""handoff.settled: an id seen waiting again names a new request, so what the process
remembered of the id is forgotten (the suite's flushed databases hand ids out again;
a long-lived Daphne refused a new request's accept as "already taken by Olga")."""

from __future__ import annotations

import pytest

from handoff import services
from handoff.console_accepts import settled_refuse
from handoff.settled import settled_get, settled_note

REQUEST_ID = 987_654


@pytest.fixture(autouse=True)
def _forget_the_made_up_id():
    yield
    settled_note(REQUEST_ID, "pending", None)


def test_a_settled_request_is_refused_without_the_database():
    settled_note(REQUEST_ID, "accepted", "Olga")
    with pytest.raises(services.RequestAlreadyTaken, match="already taken by Olga"):
        settled_refuse(REQUEST_ID)


def test_a_waiting_request_of_a_remembered_id_is_new_and_may_be_accepted():
    # given: the process remembers the id as accepted by Olga
    settled_note(REQUEST_ID, "accepted", "Olga")
    # when: a request of that id is seen waiting (a new one)
    settled_note(REQUEST_ID, "pending", None)
    # then: nothing is remembered of it, and its accept goes to the database
    assert settled_get(REQUEST_ID) is None
    settled_refuse(REQUEST_ID)


def test_queued_counts_as_waiting_too_and_a_later_close_is_remembered():
    settled_note(REQUEST_ID, "closed", None)
    settled_note(REQUEST_ID, "queued", None)
    assert settled_get(REQUEST_ID) is None
    settled_note(REQUEST_ID, "closed", None)
    assert settled_get(REQUEST_ID) == ("closed", None)
