"""The headset revealed by the trigger: classifier decisions reach the widget."""

import pytest
from celery import current_app
from django.test import override_settings

from chats.models import Dialog
from chats.services import dialog_receive_client_message
from handoff.models import HandoffSettings
from handoff.services.trigger import trigger_check
from tests.chats.factories import ChatFactory, DialogFactory
from tests.fake_llm_server import FakeLanguageModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def dialog():
    return DialogFactory(client__chat=ChatFactory(headset_mode="trigger"))


def say(dialog, text, number):
    dialog_receive_client_message(dialog=dialog, text=text, client_msg_id=f"m{number}")


def test_an_explicit_ask_reveals_the_headset_and_the_widget_is_told(
    dialog, django_capture_on_commit_callbacks
):
    say(dialog, "I want to talk to a human", 1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        verdict = trigger_check(dialog_id=dialog.pk)
    assert verdict.offer_human is True
    assert Dialog.objects.get(pk=dialog.pk).headset_revealed is True
    assert len(callbacks) == 1  # the dialog.headset event


def test_small_talk_keeps_the_headset_hidden(dialog):
    say(dialog, "what are your opening hours", 1)
    assert trigger_check(dialog_id=dialog.pk).offer_human is False
    assert Dialog.objects.get(pk=dialog.pk).headset_revealed is False


def test_repeated_fallbacks_reveal_the_headset(dialog):
    for number in range(2):
        say(dialog, f"blorp {number}", number)
    assert Dialog.objects.get(pk=dialog.pk).fallback_count == 2
    assert trigger_check(dialog_id=dialog.pk).reason == "2 fallbacks"


def test_a_phrase_from_the_admins_prompt_reveals_the_headset(dialog):
    HandoffSettings.objects.create(
        chat=dialog.chat, trigger_prompt='Offer a human when they mention "refund".'
    )
    say(dialog, "how do I get a refund", 1)
    assert trigger_check(dialog_id=dialog.pk).reason == "prompt phrase: 'refund'"


def test_the_language_model_backend_decides_when_configured(dialog):
    say(dialog, "hmm", 1)
    with (
        FakeLanguageModel(answer="yes") as server,
        override_settings(BATON_CLASSIFIER_URL=server.url),
    ):
        verdict = trigger_check(dialog_id=dialog.pk)
    assert (verdict.offer_human, verdict.backend) == (True, "language_model")
    assert "hmm" in server.requests[0].body["messages"][1]["content"]


def test_a_client_message_schedules_the_check_only_in_trigger_mode(
    django_capture_on_commit_callbacks,
):
    always = DialogFactory(client__chat=ChatFactory(headset_mode="always"))
    trigger = DialogFactory(client__chat=ChatFactory(headset_mode="trigger"))
    with django_capture_on_commit_callbacks() as always_callbacks:
        say(always, "hello", 1)
    with django_capture_on_commit_callbacks() as trigger_callbacks:
        say(trigger, "hello", 1)
    assert len(trigger_callbacks) == len(always_callbacks) + 1


def test_a_broker_away_does_not_fail_the_message_that_scheduled_the_check(
    dialog, monkeypatch, django_capture_on_commit_callbacks
):
    # given a broker that is away
    asked = []

    def broker_away(name, args):
        asked.append((name, args))
        raise ConnectionError("broker away")

    monkeypatch.setattr(current_app, "send_task", broker_away)
    # when a visitor's message in trigger mode commits
    with django_capture_on_commit_callbacks(execute=True):
        say(dialog, "hello", 1)
    # then the check was asked for, and the broker's error did not fail the message
    assert asked == [("handoff.check_trigger", (dialog.pk,))]
    assert dialog.messages.filter(client_msg_id="m1").exists()
