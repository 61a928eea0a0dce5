"""Handoff 0009 with chats 0008 (issue 9's structure): chats' Feedback rows move to
handoff.Feedback with their ids, their bare request and operator ids becoming real
foreign keys (NULL where they pointed at nothing); each chat's handoff-only settings
move to its HandoffSettings (made when missing); chats drops its copies."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from handoff.models import Feedback, HandoffSettings, Request
from tests.chats.factories import ChatFactory, DialogFactory, ScriptFactory
from tests.distributor.factories import OperatorFactory

BEFORE = [
    ("chats", "0007_chat_scripts_version"),
    ("handoff", "0008_console_inbox_and_settings_revision"),
]
MOVED = [
    "feedback_enabled",
    "feedback_delay_seconds",
    "feedback_scale",
    "feedback_prompt",
    "operator_idle_seconds",
    "script_after_operator_end_id",
    "script_after_client_timeout_id",
    "queue_max_wait_seconds",
    "queue_notice_interval_minutes",
    "queue_notice_text",
    "sla_first_response_seconds",
    "sla_next_response_seconds",
]
AFTER = [
    ("chats", "0009_feedback_and_handoff_settings_to_handoff"),
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
    operator = OperatorFactory(display_name="Olga")
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


@pytest.mark.django_db(transaction=True)
def test_each_chats_handoff_settings_move_to_its_handoff_settings(migrated_back):
    # given: a chat with its settings row and one without, each with its own values
    with_row, without_row = ChatFactory(), ChatFactory()
    after_end = ScriptFactory(chat=with_row)
    after_timeout = ScriptFactory(chat=with_row)
    old_apps = migrated_back()
    OldChat = old_apps.get_model("chats", "Chat")
    OldSettings = old_apps.get_model("handoff", "HandoffSettings")
    OldSettings.objects.filter(chat_id=without_row.pk).delete()
    OldSettings.objects.update_or_create(
        chat_id=with_row.pk, defaults={"accept_timeout_seconds": 45}
    )
    revision_before = OldSettings.objects.get(chat_id=with_row.pk).revision
    OldChat.objects.filter(pk=with_row.pk).update(
        feedback_enabled=False,
        feedback_delay_seconds=30,
        feedback_scale=10,
        feedback_prompt="How was it?",
        operator_idle_seconds=77,
        script_after_operator_end_id=after_end.pk,
        script_after_client_timeout_id=after_timeout.pk,
        queue_max_wait_seconds=88,
        queue_notice_interval_minutes=3,
        queue_notice_text="You are {position}.",
        sla_first_response_seconds=11,
        sla_next_response_seconds=22,
    )
    OldChat.objects.filter(pk=without_row.pk).update(feedback_scale=2, operator_idle_seconds=99)

    # when
    migrate(AFTER)

    # then
    moved = HandoffSettings.objects.get(chat=with_row)
    assert [getattr(moved, name) for name in MOVED] == [
        False,
        30,
        10,
        "How was it?",
        77,
        after_end.pk,
        after_timeout.pk,
        88,
        3,
        "You are {position}.",
        11,
        22,
    ]
    assert moved.accept_timeout_seconds == 45  # its own settings stay
    assert moved.revision != revision_before  # cached copies are stale
    made = HandoffSettings.objects.get(chat=without_row)
    assert (made.feedback_scale, made.operator_idle_seconds, made.feedback_prompt) == (
        2,
        99,
        "Please rate the conversation",
    )
    chat_columns = {
        column.name
        for column in connection.introspection.get_table_description(
            connection.cursor(), "chats_chat"
        )
    }
    assert chat_columns.isdisjoint({"feedback_scale", "operator_idle_seconds", "queue_notice_text"})
