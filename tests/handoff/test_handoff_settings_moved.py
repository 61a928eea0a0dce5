"""Issue 9: the chat's settings that only handoff reads (feedback, the operator's idle
time, the queue, the SLA, the scripts after a conversation) are HandoffSettings',
edited with the other handoff settings on the chat's admin page."""

import pytest
from django.core.exceptions import ValidationError

from handoff.admin import HandoffSettingsForm
from handoff.models import HandoffSettings
from handoff.services import handoff_settings_for
from tests.chats.factories import ChatFactory, ScriptFactory
from tests.handoff.test_admin_polish import _chat_add_data

pytestmark = pytest.mark.django_db

MOVED = [
    "feedback_enabled",
    "feedback_delay_seconds",
    "feedback_scale",
    "feedback_prompt",
    "operator_idle_seconds",
    "script_after_operator_end",
    "script_after_client_timeout",
    "queue_max_wait_seconds",
    "queue_notice_interval_minutes",
    "queue_notice_text",
    "sla_first_response_seconds",
    "sla_next_response_seconds",
]


def test_full_clean_reports_every_bad_moved_setting():
    settings = HandoffSettings(chat=ChatFactory(), feedback_scale=3, operator_idle_seconds=0)
    with pytest.raises(ValidationError) as error:
        settings.full_clean()
    assert set(error.value.message_dict) >= {"feedback_scale", "operator_idle_seconds"}


def test_a_script_after_the_end_must_be_one_of_the_chats_own():
    chat = ChatFactory()
    settings = handoff_settings_for(chat.pk)
    settings.script_after_operator_end = ScriptFactory()  # another chat's
    with pytest.raises(ValidationError) as error:
        settings.full_clean()
    assert error.value.message_dict["script_after_operator_end"] == [
        "Choose a script of this chat."
    ]


def test_the_settings_form_offers_only_the_chats_scripts():
    chat = ChatFactory()
    own = ScriptFactory(chat=chat)
    ScriptFactory()  # another chat's
    form = HandoffSettingsForm(instance=handoff_settings_for(chat.pk))
    for name in ("script_after_operator_end", "script_after_client_timeout"):
        assert list(form.fields[name].queryset) == [own]


def test_the_chat_page_edits_them_in_its_handoff_settings(admin_client):
    response = admin_client.post(
        "/admin/chats/chat/add/",
        _chat_add_data(
            **{
                "handoff_settings-0-operator_idle_seconds": "77",
                "handoff_settings-0-feedback_scale": "10",
                "handoff_settings-0-queue_notice_text": "You are {position}.",
            }
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    settings = HandoffSettings.objects.get(chat__name="New shop")
    assert (
        settings.operator_idle_seconds,
        settings.feedback_scale,
        settings.queue_notice_text,
    ) == (
        77,
        10,
        "You are {position}.",
    )
    page = admin_client.get(f"/admin/chats/chat/{settings.chat_id}/change/").content.decode()
    for name in MOVED:
        assert f'name="handoff_settings-0-{name}"' in page
        assert f'name="{name}"' not in page


def test_a_saved_change_reaches_a_reader_of_the_cached_settings():
    chat = ChatFactory()
    cached = handoff_settings_for(chat.pk)
    stored = HandoffSettings.objects.get(pk=cached.pk)
    stored.feedback_scale = 10
    stored.save(update_fields=["feedback_scale"])
    revision = HandoffSettings.objects.values_list("revision", flat=True).get(pk=cached.pk)
    assert revision != cached.revision
    assert handoff_settings_for(chat.pk, revision=revision).feedback_scale == 10
