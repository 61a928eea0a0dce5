"""The idle sweep (chats.close_idle_dialogs): it closes the idle dialogs the bot has,
in bulk (one locking read and one UPDATE a batch, not a transaction per dialog), all
of them in one run, and never a dialog with an open request."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chats.enums import DialogStatus
from chats.models import Dialog
from chats.services import dialogs as dialog_services
from chats.services import dialogs_close_idle
from handoff.enums import Fallback
from handoff.models import HandoffSettings
from handoff.services import request_open
from tests.chats.factories import DialogFactory

pytestmark = pytest.mark.django_db

HOURS = 24


@pytest.fixture(autouse=True)
def idle_hours(settings):
    settings.BATON_DIALOG_IDLE_CLOSE_HOURS = HOURS


def idle_dialogs(count, *, now):
    """`count` dialogs the bot has: half with an old last message, half never written in
    and started long ago."""
    long_ago = now - timedelta(hours=HOURS + 1)
    dialogs = []
    for index in range(count):
        if index % 2:
            dialogs.append(DialogFactory(started_at=long_ago, last_message_at=None))
        else:
            dialogs.append(
                DialogFactory(started_at=long_ago - timedelta(days=3), last_message_at=long_ago)
            )
    return dialogs


def statuses(dialogs):
    found = dict(Dialog.objects.filter(pk__in=[d.pk for d in dialogs]).values_list("pk", "status"))
    return [found[d.pk] for d in dialogs]


def test_only_idle_dialogs_the_bot_has_are_closed():
    now = timezone.now()
    idle = idle_dialogs(2, now=now)
    # an old dialog written in recently, and one started recently without messages
    recent = [
        DialogFactory(started_at=now - timedelta(days=5), last_message_at=now - timedelta(hours=1)),
        DialogFactory(started_at=now - timedelta(hours=1), last_message_at=None),
    ]
    # an idle dialog waiting for a person
    waiting = DialogFactory(started_at=now - timedelta(days=5), last_message_at=None)
    HandoffSettings.objects.update_or_create(
        chat=waiting.chat, defaults={"fallback": Fallback.QUEUE}
    )
    request_open(dialog=waiting, reason="headset")
    Dialog.objects.filter(pk=waiting.pk).update(last_message_at=now - timedelta(days=4))

    assert dialogs_close_idle(now=now) == 2

    assert statuses(idle) == [DialogStatus.CLOSED] * 2
    assert all(d.closed_at == now for d in Dialog.objects.filter(pk__in=[d.pk for d in idle]))
    assert statuses(recent) == [DialogStatus.BOT] * 2
    assert statuses([waiting]) == [DialogStatus.WAITING]
    assert dialogs_close_idle(now=now) == 0  # twice closes nothing twice


def test_a_backlog_is_closed_in_one_run_with_a_few_queries_a_batch(monkeypatch):
    # given: a backlog larger than a batch
    monkeypatch.setattr(dialog_services, "IDLE_CLOSE_BATCH", 4)
    now = timezone.now()
    backlog = idle_dialogs(10, now=now)
    # when
    with CaptureQueriesContext(connection) as queries:
        closed = dialogs_close_idle(now=now)
    # then: every one closed in this run, in 3 batches of one SELECT ... and one UPDATE
    assert closed == 10
    assert statuses(backlog) == [DialogStatus.CLOSED] * 10
    reads = [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    writes = [q for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert (len(reads), len(writes)) == (3, 3), [q["sql"] for q in queries]


def test_the_sweep_query_has_no_coalesce():
    # the partial index dialog_bot_idle serves plain comparisons, not an expression
    with CaptureQueriesContext(connection) as queries:
        dialogs_close_idle(now=timezone.now())
    assert queries, "the sweep read nothing"
    assert not any("COALESCE" in q["sql"].upper() for q in queries)
