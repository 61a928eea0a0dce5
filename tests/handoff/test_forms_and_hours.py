"""The pre-handoff form and working hours, as request_open applies them."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from chats.models import Message
from distributor.services import auto_reply_defaults
from handoff.models import DialogFormAnswers, FormField, HandoffSettings, Request, WorkingPeriod
from handoff.services import HandoffError, client_form_submit, request_open
from tests.chats.factories import DialogFactory

pytestmark = pytest.mark.django_db
ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
def dialog():
    return DialogFactory()


@pytest.fixture
def form(dialog):
    settings = HandoffSettings.objects.create(chat=dialog.chat)
    name = FormField.objects.create(settings=settings, position=0, label="Your name")
    topic = FormField.objects.create(
        settings=settings, position=1, label="Topic", kind="choice", choices="Billing\nDelivery"
    )
    email = FormField.objects.create(
        settings=settings, position=2, label="E-mail", kind="email", required=False
    )
    return {"name": str(name.pk), "topic": str(topic.pk), "email": str(email.pk)}


def test_asking_for_a_human_shows_the_form_first(dialog, form):
    assert request_open(dialog=dialog, reason="headset") is None
    prompt = Message.objects.filter(dialog=dialog).last()
    fields = prompt.attachments[0]["fields"]
    assert [(f["label"], f["kind"], f["required"]) for f in fields] == [
        ("Your name", "text", True),
        ("Topic", "choice", True),
        ("E-mail", "email", False),
    ]
    assert fields[1]["choices"] == ["Billing", "Delivery"]
    assert Request.objects.count() == 0


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"name": "Ann", "topic": "Cooking"},
        {"name": "Ann", "topic": "Billing", "email": "not-an-email"},
        {"name": "   ", "topic": "Billing"},
    ],
)
def test_bad_answers_are_refused_per_field_and_nothing_is_stored(dialog, form, answers):
    request_open(dialog=dialog, reason="headset")
    keyed = {form[name]: value for name, value in answers.items()}
    with pytest.raises(HandoffError) as refusal:
        client_form_submit(dialog=dialog, answers=keyed)
    assert refusal.value.code == "form_invalid"
    assert DialogFormAnswers.objects.count() == 0
    assert Request.objects.count() == 0


def test_valid_answers_open_the_request_and_travel_with_it(dialog, form):
    request_open(dialog=dialog, reason="headset")
    client_form_submit(
        dialog=dialog,
        answers={form["name"]: "Ann", form["topic"]: "Delivery", form["email"]: "Ann@Example.com"},
    )
    request = Request.objects.get()
    assert request.form_answers == [
        {"label": "Your name", "value": "Ann"},
        {"label": "Topic", "value": "Delivery"},
        {"label": "E-mail", "value": "ann@example.com"},
    ]


def test_the_form_is_shown_once_per_dialog(dialog, form):
    request_open(dialog=dialog, reason="headset")
    client_form_submit(dialog=dialog, answers={form["name"]: "Ann", form["topic"]: "Billing"})
    from handoff.services import request_close

    request_close(request=Request.objects.get(), reason="client")
    again = request_open(dialog=dialog, reason="headset")
    assert again is not None
    assert again.form_answers[0] == {"label": "Your name", "value": "Ann"}
    assert Message.objects.filter(dialog=dialog, attachments__0__kind="handoff_form").count() == 1


@pytest.fixture
def office_hours(dialog):
    settings = HandoffSettings.objects.create(
        chat=dialog.chat, working_hours_enabled=True, time_zone="Europe/Rome"
    )
    for weekday in range(5):
        WorkingPeriod.objects.create(
            settings=settings, weekday=weekday, starts_at=time(9), ends_at=time(18)
        )


def test_outside_working_hours_nobody_is_asked_and_the_visitor_sees_the_next_window(
    dialog, office_hours
):
    saturday_noon = datetime(2026, 11, 21, 12, 0, tzinfo=ROME)
    assert request_open(dialog=dialog, reason="headset", now=saturday_noon) is None
    assert Request.objects.count() == 0
    assert Message.objects.filter(dialog=dialog).last().text == (
        "We are closed now. Nearest manager working hours: Mon 09:00–18:00."
    )


def test_the_window_is_told_in_the_chats_language(dialog, office_hours):
    dialog.chat.language = "it"
    dialog.chat.save()
    request_open(dialog=dialog, reason="headset", now=datetime(2026, 11, 21, 12, tzinfo=ROME))
    # the chat's outside-hours auto-reply (made in its language), the window in it too
    expected = auto_reply_defaults("it")["reply_outside_hours"].replace(
        "{hours}", "lun 09:00–18:00"
    )
    assert Message.objects.filter(dialog=dialog).last().text == expected


def test_inside_working_hours_the_request_opens(dialog, office_hours):
    monday_ten = datetime(2026, 11, 23, 10, 0, tzinfo=ROME)
    assert request_open(dialog=dialog, reason="headset", now=monday_ten).status == "pending"
