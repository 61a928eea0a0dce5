"""Processing stored updates when one of them fails: the failure is recorded with its
error, tried a bounded number of times, then skipped, and the chat goes on. Through the
real path: the webhook stores, the Celery tasks process and sweep, the outbox sends to
the fake Bot API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from chats.enums import AuthorKind, ScriptKind
from chats.models import Message
from telegram_bridge.models import TelegramChat, TelegramUpdate, UpdateState
from telegram_bridge.services.updates import MAX_ATTEMPTS
from telegram_bridge.tasks import deliver_outbox, process_updates, sweep
from tests.chats.factories import ScriptFactory, StepFactory
from tests.telegram_bridge.telegram_updates import private_chat, text_update, user

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 501
GREETING = "Welcome to the shop!"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


# --- steps a test takes ------------------------------------------------------------------


def post(client, world, payload: dict) -> None:
    """Telegram posts an update to the webhook."""
    response = client.post(
        f"/telegram/webhook/{world.bot.webhook_key}/",
        data=json.dumps(payload),
        content_type="application/json",
        headers={SECRET_HEADER: world.bot.webhook_secret},
    )
    assert response.status_code == 200


def work(world) -> None:
    """What the Celery worker does with what the webhook scheduled: process every queue
    of updates it was asked to, then send what that produced."""
    queues = set(
        TelegramUpdate.objects.filter(bot=world.bot, processed_at__isnull=True).values_list(
            "telegram_chat_id", flat=True
        )
    )
    for chat_id in queues:
        process_updates(world.bot.pk, chat_id)
    deliver_outbox(world.bot.pk)


def time_passes(seconds: int) -> None:
    """Move every stored moment of the updates' queues into the past."""
    delta = timedelta(seconds=seconds)
    TelegramUpdate.objects.update(received_at=F("received_at") - delta)
    TelegramUpdate.objects.filter(next_attempt_at__isnull=False).update(
        next_attempt_at=F("next_attempt_at") - delta
    )
    TelegramChat.objects.filter(processing_until__isnull=False).update(
        processing_until=F("processing_until") - delta
    )


def sweep_and_work(world) -> int:
    """A minute later the periodic sweep runs; the worker does what it scheduled."""
    time_passes(60)
    scheduled = sweep()
    work(world)
    return scheduled


def client_texts() -> list[str]:
    return list(
        Message.objects.filter(author_kind=AuthorKind.CLIENT)
        .order_by("sequence")
        .values_list("text", flat=True)
    )


def greeted(world) -> None:
    StepFactory(script=ScriptFactory(chat=world.bot.chat, kind=ScriptKind.START), text=GREETING)


def without_date(update_id: int, text: str) -> dict:
    """A message python-telegram-bot cannot read: Telegram always sends `date`."""
    payload = text_update(update_id, user_id=CLIENT, text=text)
    del payload["message"]["date"]
    return payload


def button_press_without_sender(update_id: int) -> dict:
    """A button press python-telegram-bot reads, but whose handling fails (there is no
    `from`, which Telegram always sends)."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(4_000_000_000 + update_id),
            "message": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": private_chat(CLIENT),
                "text": "Choose:",
            },
            "chat_instance": "1",
            "data": "b:1",
        },
    }


def unreadable_without_chat(update_id: int) -> dict:
    """An update of no chat that python-telegram-bot cannot read (a poll without options)."""
    return {"update_id": update_id, "poll": {"id": f"poll-{update_id}", "question": "?"}}


def inline_query(update_id: int) -> dict:
    """A good update of no chat (the bot has no handler for it)."""
    return {
        "update_id": update_id,
        "inline_query": {
            "id": str(update_id),
            "from": user(CLIENT),
            "query": "shoes",
            "offset": "",
        },
    }


def update(update_id: int) -> TelegramUpdate:
    return TelegramUpdate.objects.get(update_id=update_id)


# --- a failing update is recorded, retried a few times, skipped ---------------------------


def test_an_unreadable_update_fails_with_its_error_and_the_chat_goes_on(client, telegram_world):
    world = telegram_world
    greeted(world)
    bad, first, second = (world.next_update_id() for _ in range(3))
    # given a message python-telegram-bot cannot read, then two good ones from the same chat
    post(client, world, without_date(bad, "lost"))
    post(client, world, text_update(first, user_id=CLIENT, text="hello"))
    post(client, world, text_update(second, user_id=CLIENT, text="anyone there?"))
    # when the worker processes the chat
    work(world)
    # then the good ones are stored and answered
    assert client_texts() == ["hello", "anyone there?"]
    assert GREETING in world.texts_to(CLIENT)
    # and the bad one failed with its error; reading it again could not help
    failed = update(bad)
    assert failed.state == UpdateState.FAILED
    assert failed.attempts == 1
    assert "cannot read" in failed.error
    assert "date" in failed.error
    assert failed.processed_at is not None
    assert {update(first).state, update(second).state} == {UpdateState.PROCESSED}
    # and the sweep leaves it alone from now on
    assert sweep_and_work(world) == 0
    assert update(bad).attempts == 1


def test_an_update_whose_handling_fails_is_retried_by_the_sweep_then_skipped(
    client, telegram_world
):
    world = telegram_world
    greeted(world)
    bad, good = world.next_update_id(), world.next_update_id()
    # given an update whose handling fails, and a good message after it in the same chat
    post(client, world, button_press_without_sender(bad))
    post(client, world, text_update(good, user_id=CLIENT, text="hello"))
    # when the worker processes the chat
    work(world)
    # then the failure is recorded, and the chat waits for the retry (order is kept)
    failing = update(bad)
    assert (failing.state, failing.attempts) == (UpdateState.PENDING, 1)
    assert "AttributeError" in failing.error
    assert client_texts() == []
    # and the retry is not due at once
    assert sweep() == 0
    # when the sweep tries again until the tries are used up
    for _attempt in range(2, MAX_ATTEMPTS + 1):
        assert sweep_and_work(world) == 1
    # then the update is skipped with its last error and the chat goes on
    failed = update(bad)
    assert (failed.state, failed.attempts) == (UpdateState.FAILED, MAX_ATTEMPTS)
    assert "AttributeError" in failed.error
    assert client_texts() == ["hello"]
    assert GREETING in world.texts_to(CLIENT)
    # and it is never tried again
    assert sweep_and_work(world) == 0
    assert update(bad).attempts == MAX_ATTEMPTS


def test_an_update_left_processing_by_a_killed_worker_is_picked_up_again(client, telegram_world):
    world = telegram_world
    greeted(world)
    update_id = world.next_update_id()
    post(client, world, text_update(update_id, user_id=CLIENT, text="hello"))
    # given the worker was killed while it processed the update: the update is marked as
    # being processed and the chat's lease is held, until both leases run out
    past = timezone.now() - timedelta(seconds=1)
    TelegramUpdate.objects.update(state=UpdateState.PROCESSING, attempts=1, next_attempt_at=past)
    TelegramChat.objects.filter(telegram_chat_id=CLIENT).update(processing_until=past)
    # when the sweep runs
    assert sweep_and_work(world) == 1
    # then the update is processed on its second try, stored once and answered
    picked = update(update_id)
    assert (picked.state, picked.attempts) == (UpdateState.PROCESSED, 2)
    assert "interrupted" in picked.error
    assert client_texts() == ["hello"]
    assert world.texts_to(CLIENT).count(GREETING) == 1


def test_an_update_that_kills_the_worker_every_time_is_skipped(client, telegram_world):
    world = telegram_world
    greeted(world)
    deadly, good = world.next_update_id(), world.next_update_id()
    post(client, world, text_update(deadly, user_id=CLIENT, text="deadly"))
    post(client, world, text_update(good, user_id=CLIENT, text="hello"))
    # given the worker was killed on every try of the first update
    past = timezone.now() - timedelta(seconds=1)
    TelegramUpdate.objects.filter(update_id=deadly).update(
        state=UpdateState.PROCESSING, attempts=MAX_ATTEMPTS, next_attempt_at=past
    )
    TelegramChat.objects.filter(telegram_chat_id=CLIENT).update(processing_until=past)
    # when the sweep runs
    sweep_and_work(world)
    # then it is not tried a fourth time; the next update is processed
    skipped = update(deadly)
    assert (skipped.state, skipped.attempts) == (UpdateState.FAILED, MAX_ATTEMPTS)
    assert "interrupted" in skipped.error
    assert client_texts() == ["hello"]


def test_an_update_another_worker_is_processing_is_left_to_it(client, telegram_world):
    world = telegram_world
    update_id = world.next_update_id()
    post(client, world, text_update(update_id, user_id=CLIENT, text="hello"))
    # given another worker holds the chat and is processing the update
    future = timezone.now() + timedelta(seconds=60)
    TelegramUpdate.objects.update(state=UpdateState.PROCESSING, attempts=1, next_attempt_at=future)
    TelegramChat.objects.filter(telegram_chat_id=CLIENT).update(processing_until=future)
    # when this worker is asked to process the chat, and the sweep runs soon after
    work(world)
    assert sweep() == 0
    # then it does nothing
    assert (update(update_id).state, update(update_id).attempts) == (UpdateState.PROCESSING, 1)
    assert client_texts() == []


# --- updates of no chat do not wait for each other -----------------------------------------


def test_a_bad_update_of_no_chat_does_not_block_the_other_updates_of_no_chat(
    client, telegram_world
):
    world = telegram_world
    bad, first, second = (world.next_update_id() for _ in range(3))
    post(client, world, unreadable_without_chat(bad))
    post(client, world, inline_query(first))
    post(client, world, inline_query(second))

    work(world)

    assert update(bad).state == UpdateState.FAILED
    assert "cannot read" in update(bad).error
    assert update(first).state == UpdateState.PROCESSED
    assert update(second).state == UpdateState.PROCESSED


def test_an_update_of_no_chat_in_progress_does_not_hold_up_the_others(client, telegram_world):
    world = telegram_world
    slow, other = world.next_update_id(), world.next_update_id()
    post(client, world, inline_query(slow))
    post(client, world, inline_query(other))
    # given another worker is processing the first one
    future = timezone.now() + timedelta(seconds=60)
    TelegramUpdate.objects.filter(update_id=slow).update(
        state=UpdateState.PROCESSING, attempts=1, next_attempt_at=future
    )
    TelegramChat.objects.update(processing_until=future)
    # when this worker processes the updates of no chat
    work(world)
    # then the other one is processed; the first is left to its worker
    assert update(other).state == UpdateState.PROCESSED
    assert (update(slow).state, update(slow).attempts) == (UpdateState.PROCESSING, 1)


def test_updates_of_no_chat_are_not_queued_as_a_chat(client, telegram_world):
    world = telegram_world
    update_id = world.next_update_id()

    post(client, world, inline_query(update_id))

    assert update(update_id).telegram_chat_id is None
    assert not TelegramChat.objects.exists()


# --- what the admin sees -------------------------------------------------------------------


def test_the_admin_lists_received_updates_with_state_attempts_and_error(
    client, admin_client, telegram_world
):
    world = telegram_world
    bad, good = world.next_update_id(), world.next_update_id()
    post(client, world, without_date(bad, "lost"))
    post(client, world, text_update(good, user_id=CLIENT, text="hello"))
    work(world)

    failed = admin_client.get("/admin/telegram_bridge/telegramupdate/?state__exact=failed")
    page = admin_client.get(f"/admin/telegram_bridge/telegramupdate/{update(bad).pk}/change/")

    assert failed.status_code == 200
    assert "Received updates" in failed.content.decode()
    assert list(failed.context["cl"].result_list) == [update(bad)]
    assert page.status_code == 200
    assert "KeyError" in page.content.decode()
