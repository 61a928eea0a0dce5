"""telegram_bridge 0004 (the data step moved out of 0002's schema change, in batches):
updates of no chat queued as chat 0 become updates of no chat, and handled updates get
the state of their outcome; unfinished ones stay pending."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from telegram_bridge.models import TelegramBot, TelegramChat, TelegramUpdate, UpdateState
from tests.chats.factories import ChatFactory

pytestmark = pytest.mark.django_db

update_states_backfill = importlib.import_module(
    "telegram_bridge.migrations.0004_update_states_backfill"
).update_states_backfill


def test_states_and_chat_zero_are_backfilled_in_batches():
    bot = TelegramBot.objects.create(chat=ChatFactory(), token="1:backfill", telegram_id=97)
    TelegramChat.objects.create(bot=bot, telegram_chat_id=0)
    now = timezone.now()
    # as 0002 left them: every row pending with no attempts
    rows = {
        "done": dict(telegram_chat_id=5, processed_at=now),
        "broken": dict(telegram_chat_id=5, processed_at=now, error="boom"),
        "waiting": dict(telegram_chat_id=5),
        "chatless": dict(telegram_chat_id=0),
    }
    ids = {}
    for update_id, (name, fields) in enumerate(rows.items(), start=1):
        ids[name] = TelegramUpdate.objects.create(
            bot=bot, update_id=update_id, payload={"update_id": update_id}, **fields
        ).pk

    update_states_backfill(apps, SimpleNamespace(connection=connection), batch=1)

    def of(name):
        row = TelegramUpdate.objects.get(pk=ids[name])
        return row.state, row.attempts, row.telegram_chat_id

    assert of("done") == (UpdateState.PROCESSED, 1, 5)
    assert of("broken") == (UpdateState.FAILED, 1, 5)
    assert of("waiting") == (UpdateState.PENDING, 0, 5)
    assert of("chatless") == (UpdateState.PENDING, 0, None)
    assert not TelegramChat.objects.filter(telegram_chat_id=0).exists()
