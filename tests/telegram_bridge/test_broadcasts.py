"""Broadcasts: the segment (chat and channel, marker hit, last activity, customer
binding, blocked users), starting once, sending through the outbox to the fake Bot API
(photo, buttons, 429, blocked users, pacing), cancelling, a killed worker sending
nothing twice, and the results."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from openpyxl import load_workbook

from chats.enums import Messenger
from telegram_bridge.admin_broadcasts import results_xlsx
from telegram_bridge.models import (
    Broadcast,
    BroadcastRecipient,
    BroadcastStatus,
    CustomerBound,
    OutboundMessage,
    RecipientStatus,
    SendPurpose,
    SendStatus,
    TelegramChat,
)
from telegram_bridge.selectors import (
    broadcast_progress,
    broadcast_recipients_count,
    broadcast_segment,
)
from telegram_bridge.services import broadcasts
from telegram_bridge.services.broadcasts import (
    BroadcastRefused,
    broadcast_cancel,
    broadcast_feed,
    broadcast_start,
)
from telegram_bridge.services.outbox import outbound_enqueue, outbox_deliver
from telegram_bridge.services.outbox.sending import INTERRUPTED
from tests.chats.factories import ChatFactory, ClientFactory
from tests.telegram_bridge.broadcast_helpers import (
    blocked,
    broadcast_make,
    drive,
    telegram_client,
)

pytestmark = pytest.mark.django_db(transaction=True)

ANN, BOB, CAROL, DAN = 901, 902, 903, 904


def segment_ids(broadcast: Broadcast) -> set[str]:
    return set(broadcast_segment(broadcast=broadcast).values_list("external_id", flat=True))


def sends_to(api, chat_id: int, method: str = "sendMessage") -> list:
    return api.succeeded(method, chat_id=chat_id)


# --- the segment ------------------------------------------------------------------------


def test_the_segment_is_the_telegram_clients_of_the_bots_chat(telegram_world):
    bot = telegram_world.bot
    telegram_client(bot, ANN)
    ClientFactory(chat=bot.chat, messenger=Messenger.WEB, external_id="visitor-1")
    ClientFactory(chat=ChatFactory(), messenger=Messenger.TELEGRAM, external_id=str(BOB))
    # then: the web visitor and the other chat's Telegram client are not in it
    assert segment_ids(broadcast_make(bot)) == {str(ANN)}


def test_a_marker_filter_keeps_the_clients_whose_dialog_hit_it(telegram_world):
    bot = telegram_world.bot
    telegram_client(bot, ANN, marker="vip")
    telegram_client(bot, BOB, marker="other")
    telegram_client(bot, CAROL)
    assert segment_ids(broadcast_make(bot, marker="vip")) == {str(ANN)}
    assert segment_ids(broadcast_make(bot)) == {str(ANN), str(BOB), str(CAROL)}


def test_last_activity_before_and_after_use_the_latest_dialog_time(telegram_world):
    bot = telegram_world.bot
    now = timezone.now()
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    telegram_client(bot, ANN, started_at=days(11), last_message_at=days(10))
    telegram_client(bot, BOB, started_at=days(3), last_message_at=days(2))
    telegram_client(bot, CAROL, started_at=days(5))  # no message: its start counts
    telegram_client(bot, DAN, dialog=False)  # no activity at all
    assert segment_ids(broadcast_make(bot, active_after=days(3))) == {str(BOB)}
    assert segment_ids(broadcast_make(bot, active_before=days(3))) == {str(ANN), str(CAROL)}
    both = broadcast_make(bot, active_after=days(7), active_before=days(3))
    assert segment_ids(both) == {str(CAROL)}


def test_the_customer_filter_keeps_bound_or_unbound_clients(telegram_world):
    bot = telegram_world.bot
    telegram_client(bot, ANN, bound=True)
    telegram_client(bot, BOB)
    assert segment_ids(broadcast_make(bot, customer_bound=CustomerBound.BOUND)) == {str(ANN)}
    assert segment_ids(broadcast_make(bot, customer_bound=CustomerBound.UNBOUND)) == {str(BOB)}
    assert segment_ids(broadcast_make(bot, customer_bound=CustomerBound.ANY)) == {
        str(ANN),
        str(BOB),
    }


def test_users_who_blocked_the_bot_are_left_out_and_counted_apart(telegram_world):
    bot = telegram_world.bot
    for user in (ANN, BOB, CAROL):
        telegram_client(bot, user)
    blocked(bot, BOB)
    TelegramChat.objects.create(bot=bot, telegram_chat_id=CAROL)  # known, not blocked
    broadcast = broadcast_make(bot)
    assert segment_ids(broadcast) == {str(ANN), str(CAROL)}
    assert broadcast_recipients_count(broadcast=broadcast) == (2, 1)


# --- starting ---------------------------------------------------------------------------


def test_start_materialises_the_recipients_once(telegram_world):
    bot = telegram_world.bot
    for user in (ANN, BOB):
        telegram_client(bot, user)
    broadcast = broadcast_make(bot)
    # when
    assert broadcast_start(broadcast=broadcast) == 2
    telegram_client(bot, CAROL)  # joins after the start
    # then a second start changes nothing
    assert broadcast_start(broadcast=broadcast) == 2
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.recipients_total) == (BroadcastStatus.SENDING, 2)
    assert set(
        BroadcastRecipient.objects.filter(broadcast=broadcast).values_list(
            "telegram_chat_id", "status"
        )
    ) == {(ANN, RecipientStatus.PENDING), (BOB, RecipientStatus.PENDING)}


def test_an_empty_segment_is_refused_and_nothing_changes(telegram_world):
    bot = telegram_world.bot
    telegram_client(bot, ANN)
    broadcast = broadcast_make(bot, marker="nobody-hit-this")
    with pytest.raises(BroadcastRefused, match="No client is in this segment"):
        broadcast_start(broadcast=broadcast)
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DRAFT
    assert not BroadcastRecipient.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "   "}, "A broadcast needs text."),
        ({"buttons": [[{"text": "Go", "url": "javascript:alert(1)"}]]}, "Buttons must be"),
        ({"photo": "not a url or id"}, "https:// URL"),
        ({"photo": "https://example.com/p.jpg", "text": "x" * 1025}, "At most 1024"),
    ],
)
def test_an_invalid_broadcast_is_refused_at_start_and_nothing_changes(
    telegram_world, fields, message
):
    bot = telegram_world.bot
    telegram_client(bot, ANN)
    broadcast = broadcast_make(bot, **fields)
    with pytest.raises(BroadcastRefused, match=message):
        broadcast_start(broadcast=broadcast)
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DRAFT
    assert not BroadcastRecipient.objects.exists()
    assert not OutboundMessage.objects.exists()


# --- sending ----------------------------------------------------------------------------


def test_a_photo_with_buttons_reaches_every_recipient_once(telegram_world):
    world = telegram_world
    for user in (ANN, BOB, CAROL):
        telegram_client(world.bot, user)
    button = {"text": "Shop", "url": "https://example.com/shop"}
    broadcast = broadcast_make(
        world.bot, text="Sale today", photo="https://example.com/sale.jpg", buttons=[[button]]
    )
    broadcast_start(broadcast=broadcast)
    # when
    drive(world.bot, broadcast)
    # then
    for user in (ANN, BOB, CAROL):
        (call,) = sends_to(world.api, user, "sendPhoto")
        assert call.params["caption"] == "Sale today"
        assert call.params["photo"] == "https://example.com/sale.jpg"
        assert call.params["reply_markup"]["inline_keyboard"] == [[button]]
    assert broadcast.status == BroadcastStatus.DONE
    assert broadcast.finished_at is not None
    recipients = BroadcastRecipient.objects.filter(broadcast=broadcast)
    assert {r.status for r in recipients} == {RecipientStatus.SENT}
    assert all(r.telegram_message_id and r.sent_at for r in recipients)
    progress = broadcast_progress(broadcast=broadcast)
    assert (progress["total"], progress["done"], progress["sent"]) == (3, 3, 3)
    assert set(OutboundMessage.objects.values_list("purpose", flat=True)) == {SendPurpose.BROADCAST}


def test_the_feed_keeps_only_a_window_of_recipients_in_the_outbox(telegram_world, monkeypatch):
    world = telegram_world
    monkeypatch.setattr(broadcasts, "FEED_AHEAD", 2)
    for user in (ANN, BOB, CAROL):
        telegram_client(world.bot, user)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    # when fed twice before anything is sent
    assert broadcast_feed(broadcast_id=broadcast.pk) == 2
    assert broadcast_feed(broadcast_id=broadcast.pk) == 0
    # then two rows wait in the outbox, one recipient waits to be handed on
    assert OutboundMessage.objects.filter(status=SendStatus.PENDING).count() == 2
    assert broadcast_progress(broadcast=broadcast)["pending"] == 1
    # and after those are sent the last one goes
    outbox_deliver(bot_id=world.bot.pk)
    assert broadcast_feed(broadcast_id=broadcast.pk) == 1
    drive(world.bot, broadcast)
    assert [len(sends_to(world.api, user)) for user in (ANN, BOB, CAROL)] == [1, 1, 1]


def test_a_feed_rolled_back_mid_way_hands_on_nothing_and_a_rerun_sends_each_once(
    telegram_world,
):
    world = telegram_world
    for user in (ANN, BOB):
        telegram_client(world.bot, user)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    # when a worker dies after writing the outbox rows, before its commit
    with pytest.raises(RuntimeError), transaction.atomic():
        broadcast_feed(broadcast_id=broadcast.pk)
        assert OutboundMessage.objects.count() == 2
        raise RuntimeError("worker killed")
    # then nothing was handed on
    assert not OutboundMessage.objects.exists()
    assert broadcast_progress(broadcast=broadcast)["pending"] == 2
    # and the task run again, twice, sends each recipient exactly once
    broadcast_feed(broadcast_id=broadcast.pk)
    broadcast_feed(broadcast_id=broadcast.pk)
    drive(world.bot, broadcast)
    assert [len(sends_to(world.api, user)) for user in (ANN, BOB)] == [1, 1]
    assert OutboundMessage.objects.count() == 2


def test_a_recipient_interrupted_mid_call_is_not_sent_again(telegram_world):
    world = telegram_world
    for user in (ANN, BOB):
        telegram_client(world.bot, user)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    broadcast_feed(broadcast_id=broadcast.pk)
    # given: a worker claimed Ann (committed) and was killed during her Bot API call
    BroadcastRecipient.objects.filter(telegram_chat_id=ANN).update(status=RecipientStatus.SENDING)
    # when the next worker delivers
    drive(world.bot, broadcast)
    # then Ann is not sent a second time, and says why; Bob is sent
    assert sends_to(world.api, ANN) == []
    assert len(sends_to(world.api, BOB)) == 1
    ann = BroadcastRecipient.objects.get(telegram_chat_id=ANN)
    assert (ann.status, ann.error) == (RecipientStatus.FAILED, INTERRUPTED)
    assert broadcast.status == BroadcastStatus.DONE


def test_a_429_is_honoured_and_the_recipient_is_sent_after_retry_after(telegram_world):
    world = telegram_world
    for user in (ANN, BOB):
        telegram_client(world.bot, user)
    world.api.fail_flood("sendMessage", retry_after=1, chat_id=ANN)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    # when
    drive(world.bot, broadcast)
    # then Ann was asked twice: a 429, then one success no sooner than retry_after
    first, second = world.api.calls("sendMessage", chat_id=ANN)
    assert (first.failed, first.error_code, second.failed) == (True, 429, False)
    assert second.at - first.at >= 0.9
    assert len(sends_to(world.api, BOB)) == 1
    assert set(
        BroadcastRecipient.objects.filter(broadcast=broadcast).values_list("status", flat=True)
    ) == {RecipientStatus.SENT}


def test_a_user_who_blocked_the_bot_is_recorded_and_left_out_next_time(telegram_world):
    world = telegram_world
    for user in (ANN, BOB):
        telegram_client(world.bot, user)
    world.api.fail_blocked("sendMessage", chat_id=BOB)
    first = broadcast_make(world.bot)
    broadcast_start(broadcast=first)
    # when
    drive(world.bot, first)
    # then Bob is recorded as blocked, on the broadcast and on his chat
    bob = BroadcastRecipient.objects.get(broadcast=first, telegram_chat_id=BOB)
    assert bob.status == RecipientStatus.BLOCKED
    assert "blocked" in bob.error
    assert TelegramChat.objects.get(bot=world.bot, telegram_chat_id=BOB).blocked_at is not None
    assert broadcast_progress(broadcast=first)["blocked"] == 1
    # and the next broadcast leaves him out
    second = broadcast_make(world.bot, text="Again")
    assert broadcast_recipients_count(broadcast=second) == (1, 1)
    assert broadcast_start(broadcast=second) == 1
    drive(world.bot, second)
    assert len(world.api.calls("sendMessage", chat_id=BOB)) == 1  # the refused one only
    assert [call.params["text"] for call in sends_to(world.api, ANN)] == ["Hello all", "Again"]


def test_a_user_who_blocks_the_bot_after_the_start_is_not_sent(telegram_world):
    world = telegram_world
    for user in (ANN, BOB):
        telegram_client(world.bot, user)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    blocked(world.bot, BOB)
    drive(world.bot, broadcast)
    assert world.api.calls("sendMessage", chat_id=BOB) == []
    assert BroadcastRecipient.objects.get(telegram_chat_id=BOB).status == RecipientStatus.BLOCKED


def test_cancel_mid_way_sends_nothing_more(telegram_world, monkeypatch):
    world = telegram_world
    monkeypatch.setattr(broadcasts, "FEED_AHEAD", 2)
    users = (ANN, BOB, CAROL, DAN, 905)
    for user in users:
        telegram_client(world.bot, user)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    broadcast_feed(broadcast_id=broadcast.pk)
    outbox_deliver(bot_id=world.bot.pk)  # two sent
    broadcast_feed(broadcast_id=broadcast.pk)  # two more in the outbox
    # when
    assert broadcast_cancel(broadcast=broadcast) == 3
    broadcast_feed(broadcast_id=broadcast.pk)
    outbox_deliver(bot_id=world.bot.pk)
    # then
    assert len(world.api.succeeded("sendMessage")) == 2
    progress = broadcast_progress(broadcast=broadcast)
    assert (progress["status"], progress["sent"], progress["skipped"]) == ("cancelled", 2, 3)
    assert not OutboundMessage.objects.filter(status=SendStatus.PENDING).exists()
    # a second cancel changes nothing
    assert broadcast_cancel(broadcast=broadcast) == 0


def test_a_round_picked_before_a_cancel_sends_nothing_cancelled(telegram_world):
    world = telegram_world
    for user in (ANN, BOB):
        telegram_client(world.bot, user)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    broadcast_feed(broadcast_id=broadcast.pk)
    # given the cancel lands after the sender read its rows (their outbox rows still
    # pending, as a sender mid-round would have them)
    BroadcastRecipient.objects.update(status=RecipientStatus.SKIPPED)
    # when
    outbox_deliver(bot_id=world.bot.pk)
    # then
    assert world.api.calls("sendMessage") == []
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {SendStatus.SKIPPED}


def test_sends_keep_to_30_a_second_per_bot(telegram_world, settings):
    world = telegram_world
    assert settings.TELEGRAM_MAX_MESSAGES_PER_SECOND == 30
    users = range(1000, 1130)
    for user in users:
        telegram_client(world.bot, user)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    drive(world.bot, broadcast)
    times = sorted(call.at for call in world.api.succeeded("sendMessage"))
    assert len(times) == 130
    # one every 1/30 s: 130 sends take at least 129/30 s (4.3 s), and any 61 at least
    # 2 s. The fake records when it handles a call, so a stalled server thread can
    # bunch a few: the bounds leave it 0.3 s. Unpaced, all 130 take well under a second
    # here.
    assert times[-1] - times[0] >= 4.0
    spans = [later - earlier for earlier, later in zip(times, times[60:], strict=False)]
    assert min(spans) >= 1.7, spans


def test_a_broadcast_and_a_reply_to_one_chat_are_a_second_apart(telegram_world, settings):
    world = telegram_world
    settings.TELEGRAM_PRIVATE_CHAT_INTERVAL = 1
    telegram_client(world.bot, ANN)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    broadcast_feed(broadcast_id=broadcast.pk)
    outbound_enqueue(
        bot=world.bot,
        telegram_chat_id=ANN,
        method="sendMessage",
        payload={"text": "an operator's reply"},
        purpose=SendPurpose.CLIENT,
    )
    drive(world.bot, broadcast)
    first, second = sends_to(world.api, ANN)
    assert [first.params["text"], second.params["text"]] == ["Hello all", "an operator's reply"]
    assert second.at - first.at >= 0.9


# --- results ----------------------------------------------------------------------------


def test_the_results_xlsx_has_a_row_per_recipient(telegram_world):
    world = telegram_world
    for user in (ANN, BOB):
        telegram_client(world.bot, user)
    world.api.fail_blocked("sendMessage", chat_id=BOB)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    drive(world.bot, broadcast)
    # when
    sheet = load_workbook(io.BytesIO(results_xlsx(broadcast))).active
    rows = list(sheet.iter_rows(values_only=True))
    # then
    assert rows[0] == (
        "Client",
        "Telegram chat",
        "Status",
        "Sent",
        "Telegram message id",
        "Error",
    )
    by_chat = {row[1]: row for row in rows[1:]}
    assert set(by_chat) == {ANN, BOB}
    assert by_chat[ANN][0] == f"u{ANN}"
    assert by_chat[ANN][2] == "sent"
    assert by_chat[ANN][3] is not None
    assert by_chat[ANN][4] is not None
    assert by_chat[BOB][2] == "blocked the bot"
    assert "blocked" in by_chat[BOB][5]


def test_a_cancel_during_a_call_answered_429_sends_nothing_later(telegram_world):
    world = telegram_world
    telegram_client(world.bot, ANN)
    world.api.fail_flood("sendMessage", retry_after=1, chat_id=ANN)
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    broadcast_feed(broadcast_id=broadcast.pk)
    answer = world.api.handle_method

    def cancel_then_answer(token, method, params, files):
        # the admin cancels while Ann's call (claimed: "being sent") is under way
        if method == "sendMessage" and not world.api.calls("sendMessage"):
            broadcast_cancel(broadcast=Broadcast.objects.get(pk=broadcast.pk))
        return answer(token, method, params, files)

    world.api.handle_method = cancel_then_answer
    outbox_deliver(bot_id=world.bot.pk)  # Ann: cancelled mid-call, then a 429
    # when her row would be due again
    OutboundMessage.objects.update(not_before=timezone.now())
    outbox_deliver(bot_id=world.bot.pk)
    # then the cancelled broadcast sends nothing more and Ann is recorded as skipped
    assert len(world.api.calls("sendMessage", chat_id=ANN)) == 1
    assert sends_to(world.api, ANN) == []
    ann = BroadcastRecipient.objects.get(telegram_chat_id=ANN)
    assert ann.status == RecipientStatus.SKIPPED
    assert not OutboundMessage.objects.filter(status=SendStatus.PENDING).exists()


def test_the_results_xlsx_never_turns_a_stored_value_into_a_formula(telegram_world):
    world = telegram_world
    client = telegram_client(world.bot, ANN)
    client.name = '=HYPERLINK("http://evil.example","x")'
    client.save(update_fields=["name"])
    broadcast = broadcast_make(world.bot)
    broadcast_start(broadcast=broadcast)
    BroadcastRecipient.objects.update(error="=1+1\x07", status=RecipientStatus.FAILED)
    # when
    sheet = load_workbook(io.BytesIO(results_xlsx(broadcast))).active
    row = next(sheet.iter_rows(min_row=2, max_row=2))
    # then both are text cells holding the stored text (less what XML cannot hold)
    assert (row[0].data_type, row[0].value) == ("s", '=HYPERLINK("http://evil.example","x")')
    assert (row[5].data_type, row[5].value) == ("s", "=1+1\ufffd")


def test_two_replies_to_a_chat_behind_a_busy_round_are_a_second_apart(telegram_world, settings):
    world = telegram_world
    settings.TELEGRAM_PRIVATE_CHAT_INTERVAL = 1
    # given a round where 45 other chats' messages come before Ann's two replies, so
    # her first waits its turn in the bot's 30/s pace
    for user in range(2000, 2045):
        outbound_enqueue(
            bot=world.bot,
            telegram_chat_id=user,
            method="sendMessage",
            payload={"text": "a reply"},
            purpose=SendPurpose.CLIENT,
        )
    for text in ("first", "second"):
        outbound_enqueue(
            bot=world.bot,
            telegram_chat_id=ANN,
            method="sendMessage",
            payload={"text": text},
            purpose=SendPurpose.CLIENT,
        )
    # when
    outbox_deliver(bot_id=world.bot.pk)
    # then Ann's two messages are still a second apart
    first, second = sends_to(world.api, ANN)
    assert [first.params["text"], second.params["text"]] == ["first", "second"]
    assert second.at - first.at >= 0.9, second.at - first.at


def test_two_broadcasts_of_one_bot_share_its_window_in_the_outbox(telegram_world, monkeypatch):
    world = telegram_world
    monkeypatch.setattr(broadcasts, "FEED_AHEAD", 2)
    for user in (ANN, BOB, CAROL, DAN):
        telegram_client(world.bot, user)
    first = broadcast_make(world.bot, text="First")
    second = broadcast_make(world.bot, text="Second")
    broadcast_start(broadcast=first)
    broadcast_start(broadcast=second)
    # when both are fed before anything is sent
    broadcast_feed(broadcast_id=first.pk)
    broadcast_feed(broadcast_id=second.pk)
    # then the bot's outbox holds one window of broadcast rows, not one per broadcast:
    # a client's reply written now waits behind no more than that
    assert OutboundMessage.objects.filter(status=SendStatus.PENDING).count() == 2
    # and both still reach everyone once
    drive(world.bot, first)
    drive(world.bot, second)
    assert [len(sends_to(world.api, user)) for user in (ANN, BOB, CAROL, DAN)] == [2, 2, 2, 2]
