"""Issue 8's handoff data migrations: 0003 turns only questions asking for the
visitor's name into "name" questions; 0006 (the data step moved out of 0003, in
batches) brings open dialogs' statuses in step with their requests and closes the
historical backlog of idle dialogs the bot has, silently."""

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from chats.enums import DialogStatus
from chats.models import Dialog, Message
from handoff.models import Request
from tests.chats.factories import DialogFactory

label_asks_for_name = importlib.import_module(
    "handoff.migrations.0003_rules_reasons_and_contact"
).label_asks_for_name
dialog_statuses_backfill = importlib.import_module(
    "handoff.migrations.0006_dialog_status_backfill"
).dialog_statuses_backfill


@pytest.mark.parametrize(
    "label",
    [
        "Name",
        "name",
        "Your name",
        "Your name:",
        "  Full name?  ",
        "YOUR FULL NAME",
        "Имя",
        "Ваше имя:",
        "Nome",
        "Il tuo nome?",
        "Nome e cognome",
    ],
)
def test_a_label_that_is_just_a_name_word_asks_for_the_visitors_name(label):
    assert label_asks_for_name(label)


@pytest.mark.parametrize(
    "label",
    [
        "Company name",
        "Name of your company",
        "Your pet's name",
        "Domain name",
        "Имя компании",
        "Nome dell'azienda",
        "Username",
        "Nickname",
        "E-mail",
        "",
    ],
)
def test_a_label_that_says_more_than_a_name_word_does_not(label):
    assert not label_asks_for_name(label)


@pytest.mark.django_db
def test_the_backfill_follows_the_requests_and_closes_the_idle_backlog_silently(settings):
    settings.BATON_DIALOG_IDLE_CLOSE_HOURS = 24
    now = timezone.now()
    long_ago = now - timedelta(days=10)
    # before issue 8 every dialog stayed "bot"
    accepted = DialogFactory(started_at=long_ago)
    waiting = DialogFactory(started_at=long_ago)
    for dialog, status in ((accepted, "accepted"), (waiting, "queued")):
        Request.objects.create(dialog=dialog, chat=dialog.chat, reason="headset", status=status)
    idle_written = DialogFactory(started_at=long_ago, last_message_at=long_ago + timedelta(hours=1))
    idle_silent = DialogFactory(started_at=long_ago, last_message_at=None)
    recent = DialogFactory(started_at=long_ago, last_message_at=now - timedelta(hours=1))
    already_closed = DialogFactory(started_at=long_ago, status="closed", closed_at=long_ago)

    dialog_statuses_backfill(apps, SimpleNamespace(connection=connection), batch=2, now=now)

    found = {d.pk: d for d in Dialog.objects.all()}
    assert found[accepted.pk].status == DialogStatus.OPERATOR
    assert found[waiting.pk].status == DialogStatus.WAITING
    assert found[recent.pk].status == DialogStatus.BOT
    assert found[idle_written.pk].status == DialogStatus.CLOSED
    assert found[idle_written.pk].closed_at == long_ago + timedelta(hours=25)
    assert found[idle_silent.pk].status == DialogStatus.CLOSED
    assert found[idle_silent.pk].closed_at == long_ago + timedelta(hours=24)
    assert found[already_closed.pk].closed_at == long_ago
    assert not Message.objects.exists()  # no notice to visitors long gone
