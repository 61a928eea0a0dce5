"""Handoff 0009 with chats 0008 (issue 9's structure): chats' Feedback rows move to
handoff.Feedback with their ids, their bare request and operator ids becoming real
foreign keys (NULL where they pointed at nothing), and chats drops its table."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from handoff.models import Feedback, Request
from tests.chats.factories import DialogFactory
from tests.distributor.factories import ManagerFactory

BEFORE = [
    ("chats", "0007_chat_scripts_version"),
    ("handoff", "0008_console_inbox_and_settings_revision"),
]
AFTER = [
    ("chats", "0008_feedback_and_handoff_settings_to_handoff"),
    ("handoff", "0009_feedback_and_chat_settings"),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def migrated_back():
    """The schema before the move; migrated forward again whatever the test did."""
    try:
        yield lambda: migrate(BEFORE)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_feedback_moves_to_handoff_with_real_keys_and_its_ids(migrated_back):
    # given: two dialogs, one rated request with its operator, and ratings whose bare
    # ids point at a request and an operator that are gone
    operator = ManagerFactory(display_name="Olga")
    dialog = DialogFactory()
    request = Request.objects.create(
        dialog=dialog, chat=dialog.chat, reason="headset", status="closed", operator=operator
    )
    other = DialogFactory()
    old_apps = migrated_back()
    OldFeedback = old_apps.get_model("chats", "Feedback")
    OldFeedback.objects.create(
        pk=7,
        dialog_id=dialog.pk,
        handoff_request_id=request.pk,
        operator_id=operator.pk,
        operator_name="Olga",
        scale=5,
        score=4,
        comment="quick",
    )
    OldFeedback.objects.create(
        pk=9,
        dialog_id=other.pk,
        handoff_request_id=request.pk + 1000,
        operator_id=operator.pk + 1000,
        operator_name="Gone",
        scale=10,
        score=9,
    )

    # when
    migrate(AFTER)

    # then
    moved = {
        row.pk: (
            row.dialog_id,
            row.request_id,
            row.operator_id,
            row.operator_name,
            row.scale,
            row.score,
            row.comment,
        )
        for row in Feedback.objects.all()
    }
    assert moved == {
        7: (dialog.pk, request.pk, operator.pk, "Olga", 5, 4, "quick"),
        9: (other.pk, None, None, "Gone", 10, 9, ""),
    }
    assert "chats_feedback" not in connection.introspection.table_names()
    # the next rating gets a fresh id (PostgreSQL's sequence was moved past the copies)
    assert Feedback.objects.create(dialog=other, scale=5, score=3).pk > 9


@pytest.mark.django_db
def test_a_rating_of_a_request_that_does_not_exist_is_refused_by_the_database():
    dialog = DialogFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Feedback.objects.create(dialog=dialog, request_id=987654, scale=5, score=4)
        connection.check_constraints()
