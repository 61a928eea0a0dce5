"""Old rows holding a lone surrogate (stored before such text was refused) are repaired
by the data migrations chats 0006, handoff 0007 and telegram_bridge 0005: U+FFFD
instead, so no page or socket can fail to encode them. Only SQLite can hold such rows
(PostgreSQL refuses them), and there only in JSON columns: text columns cannot take one
from Python at all."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from chats.encoding_repair import rows_make_encodable, value_make_encodable
from chats.enums import AuthorKind
from chats.models import Message
from handoff.models import DialogFormAnswers, Request
from telegram_bridge.models import TelegramBot, TelegramUpdate
from tests.chats.factories import ChatFactory, DialogFactory

pytestmark = pytest.mark.django_db

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL cannot hold a lone surrogate"
)

LONE = "x\ud800y"
FIXED = "x\ufffdy"


def migration(name):
    return importlib.import_module(name)


def run(module_name, function_name):
    function = getattr(migration(module_name), function_name)
    function(apps, SimpleNamespace(connection=connection))


def test_value_make_encodable_replaces_lone_surrogates_in_keys_values_and_items():
    value = {LONE: [LONE, {"k": LONE, "n": 3}], "ok": "fine \U0001f600", "none": None}
    assert value_make_encodable(value) == {
        FIXED: [FIXED, {"k": FIXED, "n": 3}],
        "ok": "fine \U0001f600",
        "none": None,
    }
    deep = current = []
    for _ in range(5000):  # no recursion: nesting cannot exhaust the stack
        current.append([])
        current = current[0]
    current.append(LONE)
    repaired = value_make_encodable(deep)
    for _ in range(5000):
        repaired = repaired[0]
    assert repaired == [FIXED]


@sqlite_only
def test_the_migrations_repair_every_stored_json_value_in_batches():
    # given: bad old rows of every kind, and good rows that must not change
    dialog = DialogFactory()
    bad_messages = [
        Message.objects.create(dialog=dialog, sequence=n, author_kind=AuthorKind.BOT)
        for n in range(1, 4)
    ]
    good = Message.objects.create(
        dialog=dialog, sequence=9, author_kind=AuthorKind.BOT, buttons=[{"label": "ok"}]
    )
    Message.objects.filter(pk__in=[m.pk for m in bad_messages]).update(
        buttons=[{"label": LONE}], attachments=[{"name": LONE}]
    )
    request = Request.objects.create(dialog=dialog, chat=dialog.chat, reason="headset")
    Request.objects.filter(pk=request.pk).update(form_answers=[{"label": "Name", "value": LONE}])
    answers = DialogFormAnswers.objects.create(dialog=dialog)
    DialogFormAnswers.objects.filter(pk=answers.pk).update(answers=[LONE], contact={"name": LONE})
    bot = TelegramBot.objects.create(chat=ChatFactory(), token="1:scrub", telegram_id=99)
    update = TelegramUpdate.objects.create(bot=bot, update_id=1, payload={})
    TelegramUpdate.objects.filter(pk=update.pk).update(payload={"message": {"text": LONE}})
    assert Message.objects.get(pk=bad_messages[0].pk).buttons == [{"label": LONE}]  # stored

    # when: the data migrations run
    run("chats.migrations.0006_scrub_lone_surrogates", "messages_make_encodable")
    run("handoff.migrations.0007_scrub_lone_surrogates", "form_answers_make_encodable")
    run("telegram_bridge.migrations.0005_scrub_lone_surrogates", "telegram_data_make_encodable")

    # then
    for message in Message.objects.filter(pk__in=[m.pk for m in bad_messages]):
        assert (message.buttons, message.attachments) == ([{"label": FIXED}], [{"name": FIXED}])
    assert Message.objects.get(pk=good.pk).buttons == [{"label": "ok"}]
    assert Request.objects.get(pk=request.pk).form_answers == [{"label": "Name", "value": FIXED}]
    repaired = DialogFormAnswers.objects.get(pk=answers.pk)
    assert (repaired.answers, repaired.contact) == ([FIXED], {"name": FIXED})
    assert TelegramUpdate.objects.get(pk=update.pk).payload == {"message": {"text": FIXED}}


@sqlite_only
def test_rows_are_read_in_batches_and_only_bad_rows_are_written():
    dialog = DialogFactory()
    messages = [
        Message.objects.create(dialog=dialog, sequence=n, author_kind=AuthorKind.BOT)
        for n in range(1, 8)
    ]
    bad = messages[::3]
    Message.objects.filter(pk__in=[m.pk for m in bad]).update(buttons=[LONE])
    assert rows_make_encodable(Message, ["buttons", "attachments"], batch=2) == len(bad)
    assert [m.buttons for m in Message.objects.filter(pk__in=[m.pk for m in bad])] == [
        [FIXED]
    ] * len(bad)


def test_elsewhere_the_migrations_do_nothing(django_assert_num_queries):
    elsewhere = SimpleNamespace(connection=SimpleNamespace(vendor="postgresql"))
    with django_assert_num_queries(0):
        migration("chats.migrations.0006_scrub_lone_surrogates").messages_make_encodable(
            apps, elsewhere
        )


@sqlite_only
def test_after_the_migration_the_admin_pages_of_such_rows_render(admin_client):
    # given: a request and a received Telegram update with a lone surrogate stored
    dialog = DialogFactory()
    request = Request.objects.create(dialog=dialog, chat=dialog.chat, reason="headset")
    Request.objects.filter(pk=request.pk).update(form_answers=[{"label": "Name", "value": LONE}])
    bot = TelegramBot.objects.create(chat=dialog.chat, token="1:admin", telegram_id=98)
    update = TelegramUpdate.objects.create(bot=bot, update_id=1, payload={})
    TelegramUpdate.objects.filter(pk=update.pk).update(payload={"message": {"text": LONE}})
    pages = [
        f"/admin/handoff/request/{request.pk}/change/",
        f"/admin/telegram_bridge/telegramupdate/{update.pk}/change/",
    ]
    # when
    run("handoff.migrations.0007_scrub_lone_surrogates", "form_answers_make_encodable")
    run("telegram_bridge.migrations.0005_scrub_lone_surrogates", "telegram_data_make_encodable")
    # then
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert FIXED.encode() in response.content, page
