"""The outbox: rows are sent in order per Telegram chat through python-telegram-bot to
the fake Bot API; a 429 holds the chat until `retry_after`, a block stops the chat, a
bad request fails one row, group-notice trouble is shown on the bot, private chats are
paced, one sender per bot at a time, from any thread."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from functools import partial

import pytest
from django.db import connection
from django.utils import timezone

from telegram_bridge.models import (
    OperatorAccount,
    OperatorAlert,
    OutboundMessage,
    SendPurpose,
    SendStatus,
    TelegramBot,
    TelegramChat,
)
from telegram_bridge.services.outbox import (
    DeliveryReport,
    outbound_enqueue,
    outbox_deliver,
    sending,
)
from tests.chats.factories import DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db(transaction=True)

ANN, BOB, CAROL = 801, 802, 803
GROUP = -1001234567890


def enqueue(
    bot: TelegramBot, chat_id: int, text: str, *, purpose: str = SendPurpose.CLIENT, **extra
) -> OutboundMessage:
    return outbound_enqueue(
        bot=bot,
        telegram_chat_id=chat_id,
        method="sendMessage",
        payload={"text": text},
        purpose=purpose,
        **extra,
    )


def texts_sent(api, chat_id: int) -> list[str]:
    return [call.params["text"] for call in api.succeeded("sendMessage", chat_id=chat_id)]


def status_of(row: OutboundMessage) -> str:
    row.refresh_from_db()
    return row.status


@pytest.fixture
def scheduled(monkeypatch) -> list[float]:
    """Countdowns of the deliveries the sender schedules for later (instead of Celery)."""
    countdowns: list[float] = []

    def record(*, bot_id: int, countdown: float = 0) -> None:
        if countdown:
            countdowns.append(countdown)

    monkeypatch.setattr(sending, "delivery_schedule", record)
    return countdowns


# --- order ------------------------------------------------------------------------------


def test_rows_to_one_chat_are_sent_in_id_order(telegram_world):
    world = telegram_world
    rows = [enqueue(world.bot, ANN, text) for text in ("one", "two", "three")]

    report = outbox_deliver(bot_id=world.bot.pk)

    assert (report.sent, report.failed, report.skipped, report.deferred) == (3, 0, 0, 0)
    assert report.leased
    assert texts_sent(world.api, ANN) == ["one", "two", "three"]
    for row in rows:
        row.refresh_from_db()
        assert row.status == SendStatus.SENT
        assert row.sent_at is not None
        assert row.attempts == 1
    assert [row.telegram_message_id for row in rows] == [1, 2, 3]


def test_delivering_again_sends_nothing_twice(telegram_world):
    world = telegram_world
    enqueue(world.bot, ANN, "once")
    outbox_deliver(bot_id=world.bot.pk)

    report = outbox_deliver(bot_id=world.bot.pk)

    assert report.sent == 0
    assert texts_sent(world.api, ANN) == ["once"]


def test_a_long_queue_to_one_chat_goes_out_in_order_over_several_rounds(telegram_world):
    world = telegram_world
    count = sending.PER_CHAT + 3
    for number in range(count):
        enqueue(world.bot, ANN, f"ann {number}")
    enqueue(world.bot, BOB, "bob")

    report = outbox_deliver(bot_id=world.bot.pk)

    assert report.sent == count + 1
    assert texts_sent(world.api, ANN) == [f"ann {number}" for number in range(count)]
    assert texts_sent(world.api, BOB) == ["bob"]
    assert not OutboundMessage.objects.exclude(status=SendStatus.SENT).exists()


# --- 429: the chat waits, the others go on --------------------------------------------------


def test_a_flood_429_holds_the_chat_until_retry_after_and_loses_nothing(telegram_world, scheduled):
    world = telegram_world
    # given Ann's 2nd row will meet a 429 with retry_after=2, and Bob has rows too
    first = outbound_enqueue(
        bot=world.bot,
        telegram_chat_id=ANN,
        method="sendPhoto",
        payload={"photo": "photo-file-1", "caption": "one"},
        purpose=SendPurpose.CLIENT,
    )
    second = enqueue(world.bot, ANN, "two")
    bob_first = enqueue(world.bot, BOB, "bob one")
    third = enqueue(world.bot, ANN, "three")
    bob_second = enqueue(world.bot, BOB, "bob two")
    world.api.fail_flood("sendMessage", retry_after=2, chat_id=ANN)
    before = timezone.now()
    # when the sender runs
    report = outbox_deliver(bot_id=world.bot.pk)
    # then Ann's chat stops at the 429 while Bob's rows go out
    assert (report.sent, report.deferred, report.failed, report.skipped) == (3, 1, 0, 0)
    assert world.api.succeeded("sendPhoto", chat_id=ANN)
    assert texts_sent(world.api, ANN) == []
    assert texts_sent(world.api, BOB) == ["bob one", "bob two"]
    second.refresh_from_db()
    assert second.status == SendStatus.PENDING
    assert second.attempts == 1
    assert before + timedelta(seconds=1) < second.not_before
    assert second.not_before <= timezone.now() + timedelta(seconds=2)
    third.refresh_from_db()
    assert (third.status, third.attempts, third.not_before) == (SendStatus.PENDING, 0, None)
    # and a delivery is scheduled for when the row is due
    assert len(scheduled) == 1
    assert 1 < scheduled[0] <= 2
    # when it is due and the sender runs again
    OutboundMessage.objects.filter(pk=second.pk).update(
        not_before=timezone.now() - timedelta(seconds=1)
    )
    report = outbox_deliver(bot_id=world.bot.pk)
    # then the rest goes out, in order, and nothing was lost or doubled
    assert report.sent == 2
    assert texts_sent(world.api, ANN) == ["two", "three"]
    assert texts_sent(world.api, BOB) == ["bob one", "bob two"]
    assert {status_of(row) for row in (first, second, third, bob_first, bob_second)} == {
        SendStatus.SENT
    }


def test_a_row_waiting_for_retry_after_is_not_sent_early(telegram_world, scheduled):
    world = telegram_world
    row = enqueue(world.bot, ANN, "later")
    world.api.fail_flood("sendMessage", retry_after=30, chat_id=ANN)
    outbox_deliver(bot_id=world.bot.pk)

    report = outbox_deliver(bot_id=world.bot.pk)

    assert report.sent == 0
    assert status_of(row) == SendStatus.PENDING
    assert len(world.api.calls("sendMessage", chat_id=ANN)) == 1  # the refused one


def test_a_long_waiting_chat_does_not_hold_up_other_chats(telegram_world, scheduled):
    world = telegram_world
    # given Ann's chat waits for a 429 with more than a batch of rows queued behind it
    later = timezone.now() + timedelta(minutes=5)
    OutboundMessage.objects.bulk_create(
        OutboundMessage(
            bot=world.bot,
            telegram_chat_id=ANN,
            method="sendMessage",
            payload={"text": f"ann {number}"},
            purpose=SendPurpose.CLIENT,
            not_before=later if number == 0 else None,
        )
        for number in range(sending.BATCH + 1)
    )
    bob = enqueue(world.bot, BOB, "bob")

    outbox_deliver(bot_id=world.bot.pk)

    assert texts_sent(world.api, BOB) == ["bob"]
    assert status_of(bob) == SendStatus.SENT


def test_a_telegram_server_error_keeps_the_row_pending_with_a_backoff(telegram_world, scheduled):
    world = telegram_world
    row = enqueue(world.bot, ANN, "one")
    after = enqueue(world.bot, ANN, "two")
    world.api.fail("sendMessage", error_code=502, description="Bad Gateway", chat_id=ANN)
    before = timezone.now()

    report = outbox_deliver(bot_id=world.bot.pk)

    assert (report.sent, report.deferred, report.failed) == (0, 1, 0)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (SendStatus.PENDING, 1)
    assert "bad gateway" in row.error.lower()
    assert row.not_before > before + timedelta(seconds=1)  # 2 ** attempts seconds
    assert status_of(after) == SendStatus.PENDING
    assert len(world.api.calls("sendMessage", chat_id=ANN)) == 1
    assert scheduled


# --- 403: a private chat that blocked the bot ------------------------------------------------


def test_a_user_who_blocked_the_bot_is_marked_and_their_rows_skipped(telegram_world):
    world = telegram_world
    first = enqueue(world.bot, ANN, "one")
    second = enqueue(world.bot, ANN, "two")
    bob = enqueue(world.bot, BOB, "bob")
    world.api.fail_blocked("sendMessage", chat_id=ANN)

    report = outbox_deliver(bot_id=world.bot.pk)

    assert (report.sent, report.skipped, report.failed) == (1, 2, 0)
    assert TelegramChat.objects.get(bot=world.bot, telegram_chat_id=ANN).blocked_at is not None
    assert status_of(first) == status_of(second) == SendStatus.SKIPPED
    assert "blocked" in first.error
    assert len(world.api.calls("sendMessage", chat_id=ANN)) == 1  # "two" was not tried
    assert status_of(bob) == SendStatus.SENT
    assert texts_sent(world.api, BOB) == ["bob"]


def test_a_row_to_a_blocked_chat_is_skipped_without_a_call(telegram_world):
    world = telegram_world
    enqueue(world.bot, ANN, "one")
    world.api.fail_blocked("sendMessage", chat_id=ANN)
    outbox_deliver(bot_id=world.bot.pk)
    calls_before = len(world.api.calls(chat_id=ANN))

    later = enqueue(world.bot, ANN, "are you there?")
    report = outbox_deliver(bot_id=world.bot.pk)

    assert (report.sent, report.skipped) == (0, 1)
    assert status_of(later) == SendStatus.SKIPPED
    assert len(world.api.calls(chat_id=ANN)) == calls_before


# --- 400: one row fails, the chat goes on ------------------------------------------------------


def test_a_bad_request_fails_that_row_and_the_next_row_is_still_sent(telegram_world):
    world = telegram_world
    bad = enqueue(world.bot, ANN, "too long, says Telegram")
    good = enqueue(world.bot, ANN, "fine")
    world.api.fail_bad_request("sendMessage", "Bad Request: message is too long", chat_id=ANN)

    report = outbox_deliver(bot_id=world.bot.pk)

    assert (report.sent, report.failed, report.deferred) == (1, 1, 0)
    assert status_of(bad) == SendStatus.FAILED
    assert "too long" in bad.error.lower()
    assert status_of(good) == SendStatus.SENT
    assert texts_sent(world.api, ANN) == ["fine"]
    assert not TelegramChat.objects.filter(blocked_at__isnull=False).exists()


# --- group notices ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_code", "description", "shown"),
    [
        (400, "Bad Request: chat not found", "not found"),
        (403, "Forbidden: bot was kicked from the supergroup chat", "kicked"),
    ],
    ids=["400-chat-not-found", "403-kicked"],
)
def test_a_failing_group_notice_is_shown_on_the_bot_and_a_later_success_clears_it(
    telegram_world, error_code, description, shown
):
    world = telegram_world
    TelegramBot.objects.filter(pk=world.bot.pk).update(notice_group_id=GROUP)
    notice = enqueue(world.bot, GROUP, "New request", purpose=SendPurpose.GROUP_NOTICE)
    world.api.fail("sendMessage", error_code=error_code, description=description, chat_id=GROUP)
    # when the group refuses the notice
    report = outbox_deliver(bot_id=world.bot.pk)
    # then the row failed and the bot shows why; a group is never marked as blocked
    assert report.failed == 1
    assert status_of(notice) == SendStatus.FAILED
    world.bot.refresh_from_db()
    assert shown in world.bot.notice_group_error.lower()
    assert world.bot.notice_group_error_at is not None
    assert not TelegramChat.objects.filter(blocked_at__isnull=False).exists()
    # when a later notice goes through
    enqueue(world.bot, GROUP, "Another request", purpose=SendPurpose.GROUP_NOTICE)
    report = outbox_deliver(bot_id=world.bot.pk)
    # then the error is cleared
    assert report.sent == 1
    world.bot.refresh_from_db()
    assert (world.bot.notice_group_error, world.bot.notice_group_error_at) == ("", None)


def test_a_group_notice_that_succeeds_after_one_that_failed_in_the_same_delivery_clears(
    telegram_world,
):
    world = telegram_world
    TelegramBot.objects.filter(pk=world.bot.pk).update(notice_group_id=GROUP)
    enqueue(world.bot, GROUP, "first", purpose=SendPurpose.GROUP_NOTICE)
    enqueue(world.bot, GROUP, "second", purpose=SendPurpose.GROUP_NOTICE)
    world.api.fail_bad_request("sendMessage", "Bad Request: chat not found", chat_id=GROUP)

    report = outbox_deliver(bot_id=world.bot.pk)

    assert (report.failed, report.sent) == (1, 1)
    world.bot.refresh_from_db()
    assert world.bot.notice_group_error == ""


# --- alerts: edits find the message they edit ----------------------------------------------------


@pytest.fixture
def alert(telegram_world) -> OperatorAlert:
    account = OperatorAccount.objects.create(
        bot=telegram_world.bot, operator=OperatorFactory(), telegram_user_id=ANN
    )
    dialog = DialogFactory()
    request = dialog.handoff_requests.create(chat=dialog.chat, reason="headset")
    return OperatorAlert.objects.create(request=request, account=account)


def test_an_alert_edit_uses_the_message_id_of_the_send_in_the_same_delivery(telegram_world, alert):
    world = telegram_world
    enqueue(world.bot, ANN, "You are connected.", purpose=SendPurpose.OPERATOR)
    outbound_enqueue(
        bot=world.bot,
        telegram_chat_id=ANN,
        method="sendMessage",
        payload={
            "text": "New request",
            "keyboard": [[{"text": "Accept", "callback_data": f"a:{alert.request_id}"}]],
        },
        purpose=SendPurpose.ALERT,
        alert=alert,
    )
    edit = outbound_enqueue(
        bot=world.bot,
        telegram_chat_id=ANN,
        method="editMessageText",
        payload={"text": "New request\n\nTaken by Olga."},
        purpose=SendPurpose.ALERT,
        alert=alert,
    )

    report = outbox_deliver(bot_id=world.bot.pk)

    assert report.sent == 3
    sent_alert = world.api.succeeded("sendMessage", chat_id=ANN)[-1]
    assert sent_alert.params["text"] == "New request"
    [edit_call] = world.api.succeeded("editMessageText", chat_id=ANN)
    assert edit_call.params["message_id"] == 2  # the alert, not the greeting before it
    assert edit_call.params["text"].endswith("Taken by Olga.")
    assert "reply_markup" not in edit_call.params  # the buttons are gone
    alert.refresh_from_db()
    assert alert.telegram_message_id == 2
    assert status_of(edit) == SendStatus.SENT


def test_an_alert_edit_after_the_send_was_delivered_earlier_uses_the_stored_id(
    telegram_world, alert
):
    world = telegram_world
    enqueue(world.bot, ANN, "hello", purpose=SendPurpose.OPERATOR)
    enqueue(world.bot, ANN, "New request", purpose=SendPurpose.ALERT, alert=alert)
    outbox_deliver(bot_id=world.bot.pk)
    outbound_enqueue(
        bot=world.bot,
        telegram_chat_id=ANN,
        method="editMessageText",
        payload={"text": "Closed."},
        purpose=SendPurpose.ALERT,
        alert=alert,
    )

    outbox_deliver(bot_id=world.bot.pk)

    [edit_call] = world.api.succeeded("editMessageText", chat_id=ANN)
    assert edit_call.params["message_id"] == 2


def test_an_alert_edit_with_nothing_to_edit_is_skipped_without_a_call(telegram_world, alert):
    world = telegram_world
    world.api.fail_bad_request("sendMessage", "Bad Request: chat not found", chat_id=ANN)
    enqueue(world.bot, ANN, "New request", purpose=SendPurpose.ALERT, alert=alert)
    edit = outbound_enqueue(
        bot=world.bot,
        telegram_chat_id=ANN,
        method="editMessageText",
        payload={"text": "Closed."},
        purpose=SendPurpose.ALERT,
        alert=alert,
    )

    report = outbox_deliver(bot_id=world.bot.pk)

    assert (report.failed, report.skipped) == (1, 1)
    assert status_of(edit) == SendStatus.SKIPPED
    assert world.api.calls("editMessageText") == []


# --- pacing ----------------------------------------------------------------------------------


def test_rows_to_one_private_chat_are_at_least_the_interval_apart(telegram_world, settings):
    world = telegram_world
    settings.TELEGRAM_PRIVATE_CHAT_INTERVAL = 1
    for text in ("one", "two", "three"):
        enqueue(world.bot, ANN, text)

    outbox_deliver(bot_id=world.bot.pk)

    times = [call.at for call in world.api.succeeded("sendMessage", chat_id=ANN)]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.9
    assert times[2] - times[1] >= 0.9


def test_the_pace_holds_across_deliveries(telegram_world, settings):
    world = telegram_world
    settings.TELEGRAM_PRIVATE_CHAT_INTERVAL = 1
    enqueue(world.bot, ANN, "one")
    outbox_deliver(bot_id=world.bot.pk)

    enqueue(world.bot, ANN, "two")
    outbox_deliver(bot_id=world.bot.pk)

    first, second = (call.at for call in world.api.succeeded("sendMessage", chat_id=ANN))
    assert second - first >= 0.9


def test_different_chats_are_not_paced_against_each_other(telegram_world, settings):
    world = telegram_world
    settings.TELEGRAM_PRIVATE_CHAT_INTERVAL = 1
    chats = (ANN, BOB, CAROL)
    for round_number in (1, 2):
        for chat_id in chats:
            enqueue(world.bot, chat_id, f"message {round_number}")

    report = outbox_deliver(bot_id=world.bot.pk)

    assert report.sent == 6
    first_calls = [world.api.succeeded("sendMessage", chat_id=chat_id)[0].at for chat_id in chats]
    assert max(first_calls) - min(first_calls) < 0.5
    for chat_id in chats:
        first, second = (call.at for call in world.api.succeeded("sendMessage", chat_id=chat_id))
        assert second - first >= 0.9


# --- threads, leases, timeouts -----------------------------------------------------------------


def deliver_in_thread(bot_id: int) -> DeliveryReport | BaseException:
    outcome: list[DeliveryReport | BaseException] = []

    def run() -> None:
        try:
            outcome.append(outbox_deliver(bot_id=bot_id))
        except BaseException as error:  # handed to the test
            outcome.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    return outcome[0]


def test_delivering_from_different_threads_one_after_another_works(telegram_world):
    world = telegram_world
    reports = []
    for number, deliver in enumerate(
        (
            partial(deliver_in_thread, world.bot.pk),
            partial(deliver_in_thread, world.bot.pk),
            partial(outbox_deliver, bot_id=world.bot.pk),
        )
    ):
        enqueue(world.bot, ANN, f"message {number}")
        reports.append(deliver())

    assert [report for report in reports if isinstance(report, BaseException)] == []
    assert [(report.sent, report.failed, report.deferred) for report in reports] == [(1, 0, 0)] * 3
    assert texts_sent(world.api, ANN) == ["message 0", "message 1", "message 2"]
    assert not OutboundMessage.objects.exclude(status=SendStatus.SENT).exists()


def test_a_second_sender_leaves_while_the_lease_is_held(telegram_world):
    world = telegram_world
    TelegramBot.objects.filter(pk=world.bot.pk).update(
        sending_until=timezone.now() + timedelta(seconds=60)
    )
    row = enqueue(world.bot, ANN, "wait for the holder")

    report = outbox_deliver(bot_id=world.bot.pk)

    assert report.leased is False
    assert report.sent == 0
    assert status_of(row) == SendStatus.PENDING
    assert world.api.calls("sendMessage") == []


def test_an_expired_lease_is_taken_over(telegram_world):
    world = telegram_world
    TelegramBot.objects.filter(pk=world.bot.pk).update(
        sending_until=timezone.now() - timedelta(seconds=1)
    )
    row = enqueue(world.bot, ANN, "the holder died")

    report = outbox_deliver(bot_id=world.bot.pk)

    assert report.leased is True
    assert report.sent == 1
    assert status_of(row) == SendStatus.SENT
    world.bot.refresh_from_db()
    # let go after sending: the lease holds the instant of release (the next holder's
    # pace counts from it)
    assert world.bot.sending_until <= timezone.now()


def test_a_round_that_outlasts_its_wait_sends_no_row_twice(telegram_world, settings, monkeypatch):
    world = telegram_world
    settings.TELEGRAM_PRIVATE_CHAT_INTERVAL = 1
    # a round of three paced rows (2 s) against a wait shortened from 300 s to 1.5 s
    monkeypatch.setattr(sending, "ROUND_TIMEOUT", 1.5)
    for text in ("one", "two", "three"):
        enqueue(world.bot, ANN, text)
    with contextlib.suppress(TimeoutError):
        outbox_deliver(bot_id=world.bot.pk)
    monkeypatch.undo()

    outbox_deliver(bot_id=world.bot.pk)  # the sweep's next attempt

    world.api.wait_for("sendMessage", 3, chat_id=ANN)
    assert texts_sent(world.api, ANN) == ["one", "two", "three"]
