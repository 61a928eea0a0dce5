"""The outbox's sender lease is a fencing token and its pacing survives a handover; a
recording the database refuses is tried again; an answer that says "not delivered"
puts a broadcast recipient back in the queue at once.

- A sender whose lease another sender took (its own had run out) neither renews nor
  lets go of the other's lease, and stops sending.
- A sender taking the lease a moment after another process let go of it waits until a
  second has passed since then (the other's last calls count for 1/s per chat and
  30/s per bot; its pacing state is in that process).
- The database refusing to record outcomes for a while: sending stops taking rows, the
  outcomes are recorded once it accepts them again, the lease is let go at the end and
  nothing is sent twice.
- A broadcast recipient answered 429 is back in the queue before the round's outcomes
  are recorded (a worker killed meanwhile leaves it to be sent, not reported as
  interrupted), and is sent once later; so is one whose call provably did not deliver
  (no connection made, an error status from Telegram). One whose call may have
  delivered (a read timeout, a dropped connection) is failed, never sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.utils import timezone
from telegram.error import NetworkError

from telegram_bridge.models import (
    BroadcastRecipient,
    OutboundMessage,
    RecipientStatus,
    SendPurpose,
    SendStatus,
    TelegramBot,
)
from telegram_bridge.runtime import SendRateLimiter
from telegram_bridge.services.broadcasts import broadcast_feed, broadcast_start
from telegram_bridge.services.outbox import outbound_enqueue, outbox_deliver, sending
from tests.servers import wait_until
from tests.telegram_bridge.broadcast_helpers import broadcast_make, drive, telegram_client

pytestmark = pytest.mark.django_db(transaction=True)

ANN, BOB = 831, 832


def deliver_in_background(bot_id: int) -> tuple[threading.Thread, list]:
    errors: list = []

    def run() -> None:
        try:
            outbox_deliver(bot_id=bot_id)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def enqueue(bot, chat_id: int, text: str) -> OutboundMessage:
    return outbound_enqueue(
        bot=bot,
        telegram_chat_id=chat_id,
        method="sendMessage",
        payload={"text": text},
        purpose=SendPurpose.CLIENT,
    )


class refused_updates:  # noqa: N801 - a context manager read as a phrase
    """A real database error: a trigger refusing updates of the outbox rows to one
    chat (what a failing database does to the recording of their outcomes)."""

    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id

    def __enter__(self):
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(
                    "CREATE TRIGGER outbox_refused BEFORE UPDATE ON "
                    "telegram_bridge_outboundmessage "
                    f"WHEN OLD.telegram_chat_id = {int(self.chat_id)} "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            else:
                cursor.execute(
                    "CREATE FUNCTION outbox_refused() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"
                )
                cursor.execute(
                    "CREATE TRIGGER outbox_refused BEFORE UPDATE ON "
                    "telegram_bridge_outboundmessage FOR EACH ROW "
                    f"WHEN (OLD.telegram_chat_id = {int(self.chat_id)}) "
                    "EXECUTE FUNCTION outbox_refused()"
                )
        return self

    def lift(self) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("DROP TRIGGER IF EXISTS outbox_refused")
            else:
                cursor.execute(
                    "DROP TRIGGER IF EXISTS outbox_refused ON telegram_bridge_outboundmessage"
                )
                cursor.execute("DROP FUNCTION IF EXISTS outbox_refused()")

    def __exit__(self, *exc_info) -> None:
        self.lift()


def test_a_sender_whose_lease_was_taken_neither_renews_nor_releases_it_and_stops(
    telegram_world, settings, monkeypatch
):
    world = telegram_world
    settings.TELEGRAM_PRIVATE_CHAT_INTERVAL = 1  # five rows to one chat: about 4 s
    monkeypatch.setattr(sending, "LEASE_RENEW", 0.3)
    rows = [enqueue(world.bot, ANN, f"message {number}") for number in range(5)]
    thread, errors = deliver_in_background(world.bot.pk)
    wait_until(
        lambda: OutboundMessage.objects.filter(pk=rows[0].pk, status=SendStatus.SENT).exists(),
        seconds=30,
    )
    # when another sender takes the lease (as if this one's had run out while stalled)
    theirs = timezone.now() + timedelta(seconds=60)
    TelegramBot.objects.filter(pk=world.bot.pk).update(sending_until=theirs)
    thread.join(60)

    # then its lease is left alone: neither renewed over nor let go
    assert errors == []
    assert TelegramBot.objects.get(pk=world.bot.pk).sending_until == theirs
    # and this sender stopped: the rest is left to the lease's holder, in order
    sent = [call.params["text"] for call in world.api.succeeded("sendMessage")]
    assert 1 <= len(sent) < 5
    assert sent == [f"message {number}" for number in range(len(sent))]
    assert set(
        OutboundMessage.objects.filter(pk__in=[row.pk for row in rows[len(sent) :]]).values_list(
            "status", flat=True
        )
    ) == {SendStatus.PENDING}


def test_after_another_process_let_go_the_first_call_waits_out_its_last_second(
    telegram_world,
):
    world = telegram_world
    row = enqueue(world.bot, ANN, "after a handover")
    # another process's sender let go just now (its last calls were made up to now)
    released = time.monotonic()
    TelegramBot.objects.filter(pk=world.bot.pk).update(sending_until=timezone.now())

    assert outbox_deliver(bot_id=world.bot.pk).sent == 1

    # a lower bound only: that second's calls are not known in this process
    (call,) = world.api.succeeded("sendMessage")
    assert call.at - released >= 0.95
    row.refresh_from_db()
    assert row.status == SendStatus.SENT


def test_a_refused_recording_is_tried_again_and_nothing_is_sent_twice(
    telegram_world, settings, caplog
):
    world = telegram_world
    settings.TELEGRAM_MAX_MESSAGES_PER_SECOND = 2  # three chats: about a second
    for user in (ANN, BOB, BOB + 1):
        telegram_client(world.bot, user)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    broadcast_feed(broadcast_id=broadcast.pk)
    caplog.set_level(logging.WARNING, logger=sending.__name__)
    with refused_updates(ANN) as refusal:
        thread, errors = deliver_in_background(world.bot.pk)
        # when the database refuses to record ANN's send for a while
        wait_until(lambda: "could not record" in caplog.text, seconds=30)
        assert BroadcastRecipient.objects.get(telegram_chat_id=ANN).status == (
            RecipientStatus.SENDING
        )
        refusal.lift()
        thread.join(60)

    # then it is recorded once the database accepts it again, and the lease let go
    assert errors == []
    assert set(BroadcastRecipient.objects.values_list("status", flat=True)) == {
        RecipientStatus.SENT
    }
    assert TelegramBot.objects.get(pk=world.bot.pk).sending_until <= timezone.now()
    # nobody got it twice
    chats = [call.params["chat_id"] for call in world.api.succeeded("sendMessage")]
    assert sorted(chats) == [ANN, BOB, BOB + 1]


def test_a_recipient_answered_429_is_back_in_the_queue_before_the_round_is_recorded(
    telegram_world,
):
    world = telegram_world
    telegram_client(world.bot, ANN)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    broadcast_feed(broadcast_id=broadcast.pk)
    world.api.fail_flood("sendMessage", retry_after=1, chat_id=ANN)
    # the round's recording of ANN's 429 cannot happen (as if the worker were killed
    # before it): the recipient must not be left "being sent"
    with refused_updates(ANN) as refusal:
        thread, errors = deliver_in_background(world.bot.pk)
        wait_until(lambda: world.api.calls("sendMessage", chat_id=ANN), seconds=30)
        wait_until(
            lambda: BroadcastRecipient.objects.filter(
                telegram_chat_id=ANN, status=RecipientStatus.QUEUED
            ).exists(),
            seconds=30,
        )
        refusal.lift()
        thread.join(60)
    assert errors == []

    assert drive(world.bot, broadcast).status == "done"
    recipient = BroadcastRecipient.objects.get(telegram_chat_id=ANN)
    assert recipient.status == RecipientStatus.SENT
    assert len(world.api.succeeded("sendMessage", chat_id=ANN)) == 1


def claimed_broadcast_row(world) -> dict:
    telegram_client(world.bot, ANN)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    broadcast_feed(broadcast_id=broadcast.pk)
    recipient = BroadcastRecipient.objects.get()
    BroadcastRecipient.objects.filter(pk=recipient.pk).update(status=RecipientStatus.SENDING)
    return {"id": recipient.outbound_id, "purpose": SendPurpose.BROADCAST}


def network_error(cause: Exception | None) -> NetworkError:
    """A python-telegram-bot network error as its HTTPXRequest raises it."""
    try:
        try:
            if cause is not None:
                raise cause
        except Exception as error:
            raise NetworkError(f"httpx.{type(error).__name__}: {error}") from error
        raise NetworkError("Bad Gateway")  # Telegram answered 502
    except NetworkError as error:
        return error


@pytest.mark.parametrize(
    "cause",
    [
        httpx.ConnectError("All connection attempts failed"),
        httpx.ConnectTimeout("timed out"),
        httpx.PoolTimeout("no connection free"),
        None,  # an answer from Telegram (a 5xx)
    ],
)
def test_a_call_that_provably_did_not_deliver_requeues_its_recipient_at_once(telegram_world, cause):
    row = claimed_broadcast_row(telegram_world)
    error = network_error(cause)

    outcome = asyncio.run(sending._retry_outcome(row, error, -1))

    assert outcome.status == SendStatus.PENDING  # sent again later
    recipient = BroadcastRecipient.objects.get()
    assert recipient.status == RecipientStatus.QUEUED
    assert recipient.error == str(error)


@pytest.mark.parametrize(
    "cause",
    [
        httpx.ReadTimeout("timed out"),
        httpx.WriteTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset"),
    ],
)
def test_a_call_that_may_have_delivered_is_failed_never_sent_twice(telegram_world, cause):
    row = claimed_broadcast_row(telegram_world)

    outcome = asyncio.run(sending._retry_outcome(row, network_error(cause), -1))

    assert outcome.status == SendStatus.FAILED
    assert outcome.error.startswith(sending.NO_ANSWER)
    # the recipient stays "being sent" until the outcome is recorded as failed
    assert BroadcastRecipient.objects.get().status == RecipientStatus.SENDING


def limiter_calls(limiter: SendRateLimiter, answers: list[float], reserve: bool = False):
    """Make one call a chat through the limiter per entry of `answers` (how long each
    call takes to be answered), all at once; returns (start, end) per call, in order."""
    made: list[tuple[float, float]] = []

    async def call(number: int, answer: float) -> None:
        async def send() -> dict:
            start = time.monotonic()
            await asyncio.sleep(answer)
            made.append((start, time.monotonic()))
            made.sort()
            return {}

        if reserve:
            await limiter.reserve()
        await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": number}, None)

    async def main() -> None:
        await asyncio.gather(
            *(call(number, answer) for number, answer in enumerate(answers, start=1))
        )

    asyncio.run(main())
    return made


def test_the_limiter_lets_no_call_leave_within_a_second_of_the_one_n_before():
    limiter = SendRateLimiter(per_second=5, group_per_minute=20)

    made = limiter_calls(limiter, [0.0] * 11)

    starts = [start for start, _end in made]
    assert all(later - earlier >= 1.0 for earlier, later in zip(starts, starts[5:], strict=False))


def test_a_call_answered_late_counts_from_when_it_really_left():
    # the first call is held up 0.5 s after it was let go (as in a stalled process):
    # its departure is its answer less the quickest round trip, not when it was let go
    limiter = SendRateLimiter(per_second=5, group_per_minute=20)

    made = limiter_calls(limiter, [0.5] + [0.0] * 5)
    made.sort()  # by start

    first_end, sixth_start = made[0][1], sorted(made)[5][0]
    assert sixth_start - first_end >= 1.0 - 0.01


def test_a_reserved_call_goes_without_waiting_again():
    limiter = SendRateLimiter(per_second=5, group_per_minute=20)

    made = limiter_calls(limiter, [0.0] * 11, reserve=True)

    starts = [start for start, _end in made]
    assert all(later - earlier >= 1.0 for earlier, later in zip(starts, starts[5:], strict=False))
    assert all(not call.started or call.end is not None for call in limiter._calls)
