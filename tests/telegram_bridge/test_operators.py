"""Operators on Telegram, through the real services: alerts with Accept / Reject, the
first accept wins, edits of the other alerts, relaying a conversation both ways, /done,
group notices."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
from django.utils import timezone

from chats.enums import AuthorKind
from chats.models import Dialog, Message
from distributor.models import Operator
from handoff.enums import CloseReason, Fallback, RequestStatus
from handoff.models import FormField, HandoffSettings, Request, RequestEvent, WorkingPeriod
from handoff.services import handoff_form_submit, request_accept, request_expire, request_open
from telegram_bridge.models import (
    AlertState,
    OperatorAccount,
    OperatorAlert,
    TelegramBot,
    TelegramChat,
    TelegramUpdate,
    UpdateState,
)
from telegram_bridge.services.operators import connect_link_create
from tests.distributor.factories import OperatorFactory
from tests.telegram_bridge.telegram_updates import (
    blocked_update,
    bot_user,
    callback_update,
    group_text_update,
    photo_update,
    private_chat,
    text_update,
)

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 501
OTHER_CLIENT = 502
OLGA = 601
PETE = 602
GROUP = -1001234567890
NEW_MESSAGE_METHODS = ("sendMessage", "sendPhoto", "sendDocument")
HELP = (
    "Alerts about new requests come here. Tap Accept to take one, then write here to answer "
    "the client (reply to one of their messages to pick a conversation when you have "
    "several). /done closes the conversation; /transfer hands it to another manager or "
    "back to the bot. /online, /away and /offline set whether new requests come to you."
)


# --- steps a test takes ------------------------------------------------------------------


def say(world, text: str, user_id: int = CLIENT, first_name: str = "Ann") -> None:
    world.receive(
        text_update(world.next_update_id(), user_id=user_id, text=text, first_name=first_name)
    )
    world.settle()


def press(world, data: str, user_id: int, message_id: int = 1) -> None:
    world.receive(
        callback_update(world.next_update_id(), user_id=user_id, data=data, message_id=message_id)
    )
    world.settle()


def connect(world, user_id: int, name: str, serves_chat: bool = True) -> Operator:
    operator = OperatorFactory(display_name=name, chats=[world.bot.chat] if serves_chat else [])
    link = connect_link_create(bot=world.bot, operator=operator)
    say(world, f"/start {link.token}", user_id=user_id)
    return operator


def ask_for_human(world, user_id: int = CLIENT, first_name: str = "Ann") -> Request:
    say(world, "hello", user_id=user_id, first_name=first_name)
    say(world, "/human", user_id=user_id, first_name=first_name)
    return Request.objects.get(dialog__client__external_id=str(user_id), status="pending")


def alerts_to(world, chat_id: int, request: Request):
    """The alert messages (with Accept / Reject) the bot sent to a chat for a request."""
    return [
        call
        for call in world.api.succeeded("sendMessage", chat_id=chat_id)
        if "reply_markup" in call.params
        and call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        == f"a:{request.pk}"
    ]


def message_id_of(world, call) -> int:
    """The message_id the fake gave the message this call sent (it counts per chat)."""
    sent = [
        other
        for other in world.api.succeeded()
        if other.method in NEW_MESSAGE_METHODS
        and other.params.get("chat_id") == call.params["chat_id"]
    ]
    return next(index for index, other in enumerate(sent) if other is call) + 1


def accept(world, user_id: int, request: Request) -> None:
    [alert] = alerts_to(world, user_id, request)
    press(world, f"a:{request.pk}", user_id=user_id, message_id=message_id_of(world, alert))


def last_text_to(world, chat_id: int) -> str:
    return world.texts_to(chat_id)[-1]


def handoff_update(world, **fields) -> None:
    HandoffSettings.objects.filter(chat_id=world.bot.chat_id).update(**fields)


def expire(world, request: Request) -> None:
    request.refresh_from_db()
    request_expire(request=request, now=request.accept_deadline + timedelta(seconds=1))
    world.settle()


# --- who gets an alert -------------------------------------------------------------------


def test_an_operator_who_serves_the_chat_gets_an_alert(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    # when
    request = ask_for_human(world)
    # then
    assert len(alerts_to(world, OLGA, request)) == 1
    alert = OperatorAlert.objects.get()
    assert (alert.request, alert.state) == (request, AlertState.OPEN)


def test_an_operator_who_does_not_serve_the_chat_gets_no_alert(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    connect(world, PETE, "Pete", serves_chat=False)
    # when
    request = ask_for_human(world)
    # then
    assert len(alerts_to(world, OLGA, request)) == 1
    assert alerts_to(world, PETE, request) == []
    assert list(OperatorAlert.objects.values_list("account__telegram_user_id", flat=True)) == [OLGA]


def test_an_inactive_account_gets_no_alert(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    connect(world, PETE, "Pete")
    OperatorAccount.objects.filter(telegram_user_id=PETE).update(active=False)
    # when
    request = ask_for_human(world)
    # then
    assert len(alerts_to(world, OLGA, request)) == 1
    assert alerts_to(world, PETE, request) == []


def test_an_operator_who_blocked_the_bot_gets_no_alert(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    connect(world, PETE, "Pete")
    world.receive(
        blocked_update(world.next_update_id(), user_id=PETE, bot_id=world.bot.telegram_id)
    )
    world.settle()
    # when
    request = ask_for_human(world)
    # then
    assert len(alerts_to(world, OLGA, request)) == 1
    assert (
        world.api.calls("sendMessage", chat_id=PETE)[-1]
        .params["text"]
        .startswith("You are connected as Pete.")
    )
    assert not OperatorAlert.objects.filter(account__telegram_user_id=PETE).exists()


def test_outside_working_hours_no_request_opens_and_nobody_is_alerted(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    settings = HandoffSettings.objects.get(chat_id=world.bot.chat_id)
    settings.working_hours_enabled = True
    settings.save()
    another_day = (timezone.now().astimezone(dt.UTC).weekday() + 3) % 7
    WorkingPeriod.objects.create(
        settings=settings, weekday=another_day, starts_at=dt.time(9), ends_at=dt.time(17)
    )
    say(world, "hello")
    # when
    opened = request_open(dialog=Dialog.objects.get(), reason="headset")
    world.settle()
    # then
    assert opened is None
    assert not Request.objects.exists()
    assert not OperatorAlert.objects.exists()
    assert len(world.api.succeeded("sendMessage", chat_id=OLGA)) == 1  # only "connected"


# --- what an alert says --------------------------------------------------------------------


def test_the_alert_shows_the_chat_the_client_the_form_and_the_last_messages(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    settings = HandoffSettings.objects.get(chat_id=world.bot.chat_id)
    order = FormField.objects.create(settings=settings, label="Order number?")
    say(world, "My order is late")
    request_open(dialog=Dialog.objects.get(), reason="headset")  # offers the form
    # when the client's pre-handoff form opens the request
    handoff_form_submit(dialog=Dialog.objects.get(), answers={str(order.pk): "A-42"})
    world.settle()
    # then
    request = Request.objects.get()
    [alert] = alerts_to(world, OLGA, request)
    text = alert.params["text"]
    assert text.startswith(f"New request in “{world.bot.chat.name}”\nClient: Ann (Telegram)")
    assert "• Order number?: A-42" in text
    assert "Ann: My order is late" in text
    assert alert.params["reply_markup"]["inline_keyboard"] == [
        [
            {"text": "Accept", "callback_data": f"a:{request.pk}"},
            {"text": "Reject", "callback_data": f"x:{request.pk}"},
        ]
    ]


# --- accepting: the first one wins ------------------------------------------------------


def test_the_first_accept_wins_and_the_other_alert_says_who_took_it(telegram_world):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    connect(world, PETE, "Pete")
    request = ask_for_human(world)
    [pete_alert] = alerts_to(world, PETE, request)
    # when
    accept(world, OLGA, request)
    # then
    request.refresh_from_db()
    assert (request.status, request.operator) == (RequestStatus.ACCEPTED, olga)
    [edit] = world.api.succeeded("editMessageText", chat_id=PETE)
    assert edit.params["message_id"] == message_id_of(world, pete_alert)
    assert edit.params["text"].endswith("\n\nTaken by Olga.")
    assert "reply_markup" not in edit.params
    assert OperatorAlert.objects.get(account__telegram_user_id=PETE).state == AlertState.TAKEN
    assert OperatorAlert.objects.get(account__telegram_user_id=OLGA).state == AlertState.ACCEPTED
    [own_edit] = world.api.succeeded("editMessageText", chat_id=OLGA)
    assert own_edit.params["text"].endswith("\n\n✅ You accepted.")


def test_a_late_accept_changes_nothing(telegram_world):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    connect(world, PETE, "Pete")
    request = ask_for_human(world)
    accept(world, OLGA, request)
    # when Pete taps Accept on his old alert
    accept(world, PETE, request)
    # then
    request.refresh_from_db()
    assert request.operator == olga
    assert RequestEvent.objects.filter(request=request, to_status="accepted").count() == 1
    assert (
        not world.api.succeeded("sendMessage", chat_id=PETE)[-1]
        .params["text"]
        .startswith("You are talking to")
    )
    assert len(world.api.succeeded("editMessageText", chat_id=PETE)) == 1


def test_an_operator_at_their_cap_is_told_and_the_request_stays_open_for_the_others(
    telegram_world,
):
    world = telegram_world
    # given Olga may hold one conversation and holds one
    olga = connect(world, OLGA, "Olga")
    Operator.objects.filter(pk=olga.pk).update(max_simultaneous_dialogs=1)
    pete = connect(world, PETE, "Pete")
    alice_request = ask_for_human(world, user_id=CLIENT, first_name="Alice")
    accept(world, OLGA, alice_request)
    bob_request = ask_for_human(world, user_id=OTHER_CLIENT, first_name="Bob")
    # when she taps Accept on Bob's alert
    accept(world, OLGA, bob_request)
    # then she is told why, as a message, not a failed update
    assert last_text_to(world, OLGA) == ("You already have 1 open conversation (your limit is 1).")
    tap = TelegramUpdate.objects.order_by("update_id").last()
    assert (tap.state, tap.error) == (UpdateState.PROCESSED, "")
    # and the request is still waiting, her alert still has its buttons
    bob_request.refresh_from_db()
    assert (bob_request.status, bob_request.operator) == (RequestStatus.PENDING, None)
    alert = OperatorAlert.objects.get(request=bob_request, account__telegram_user_id=OLGA)
    assert alert.state == AlertState.OPEN
    # and Pete can take it
    accept(world, PETE, bob_request)
    bob_request.refresh_from_db()
    assert (bob_request.status, bob_request.operator) == (RequestStatus.ACCEPTED, pete)


def test_a_console_accept_edits_every_telegram_alert(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    connect(world, PETE, "Pete")
    request = ask_for_human(world)
    carl = OperatorFactory(display_name="Carl", chats=[world.bot.chat])
    # when
    request_accept(request=request, operator=carl)
    world.settle()
    # then
    for user_id in (OLGA, PETE):
        [alert] = alerts_to(world, user_id, request)
        [edit] = world.api.succeeded("editMessageText", chat_id=user_id)
        assert edit.params["message_id"] == message_id_of(world, alert)
        assert edit.params["text"].endswith("\n\nTaken by Carl.")
        assert "reply_markup" not in edit.params
    assert set(OperatorAlert.objects.values_list("state", flat=True)) == {AlertState.TAKEN}


def test_a_long_alert_still_says_who_took_the_request(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    connect(world, PETE, "Pete")
    settings = HandoffSettings.objects.get(chat_id=world.bot.chat_id)
    questions = [
        FormField.objects.create(settings=settings, position=index, label=f"Detail {index}?")
        for index in range(9)
    ]
    say(world, "hello")
    request_open(dialog=Dialog.objects.get(), reason="headset")  # offers the form
    handoff_form_submit(
        dialog=Dialog.objects.get(),
        answers={str(question.pk): "x" * 500 for question in questions},
    )
    world.settle()
    request = Request.objects.get()
    # when
    accept(world, OLGA, request)
    # then
    [edit] = world.api.succeeded("editMessageText", chat_id=PETE)
    assert edit.params["text"].endswith("Taken by Olga.")


# --- rejecting ---------------------------------------------------------------------------------


def test_reject_passes_and_the_request_stays_open_for_the_others(telegram_world):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    pete = connect(world, PETE, "Pete")
    request = ask_for_human(world)
    [pete_alert] = alerts_to(world, PETE, request)
    # when
    press(world, f"x:{request.pk}", user_id=PETE, message_id=message_id_of(world, pete_alert))
    # then
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert list(request.rejected_by.all()) == [pete]
    [edit] = world.api.succeeded("editMessageText", chat_id=PETE)
    assert edit.params["message_id"] == message_id_of(world, pete_alert)
    assert edit.params["text"].endswith("\n\nYou passed on this request.")
    assert world.api.succeeded("editMessageText", chat_id=OLGA) == []
    accept(world, OLGA, request)
    request.refresh_from_db()
    assert request.operator == olga


def test_a_request_that_alerts_again_does_not_alert_the_rejecter(telegram_world):
    world = telegram_world
    handoff_update(world, fallback=Fallback.QUEUE, accept_timeout_seconds=1)
    connect(world, OLGA, "Olga")
    request = ask_for_human(world)
    press(world, f"x:{request.pk}", user_id=OLGA)
    connect(world, PETE, "Pete")  # joins while the request waits
    # when nobody accepted in time and the request moves to the queue
    expire(world, request)
    # then
    request.refresh_from_db()
    assert request.status == RequestStatus.QUEUED
    assert len(alerts_to(world, PETE, request)) == 1
    assert len(alerts_to(world, OLGA, request)) == 1


def test_closing_before_anyone_accepts_closes_the_open_alerts(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    connect(world, PETE, "Pete")
    request = ask_for_human(world)
    # when the client gives up
    say(world, "/end")
    # then
    request.refresh_from_db()
    assert (request.status, request.close_reason) == (RequestStatus.CLOSED, CloseReason.CLIENT)
    for user_id in (OLGA, PETE):
        [alert] = alerts_to(world, user_id, request)
        [edit] = world.api.succeeded("editMessageText", chat_id=user_id)
        assert edit.params["message_id"] == message_id_of(world, alert)
        assert edit.params["text"].endswith("\n\nClosed: closed by the client.")
        assert "reply_markup" not in edit.params
    assert set(OperatorAlert.objects.values_list("state", flat=True)) == {AlertState.CLOSED}


# --- the conversation, relayed ------------------------------------------------------------------


def test_an_operator_message_is_stored_as_the_operator_and_reaches_the_client(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    accept(world, OLGA, ask_for_human(world))
    # when
    say(world, "How can I help?", user_id=OLGA)
    # then
    message = Message.objects.get(author_kind=AuthorKind.OPERATOR)
    assert (message.author_name, message.text) == ("Olga", "How can I help?")
    assert last_text_to(world, CLIENT) == "Olga: How can I help?"


def test_a_client_message_is_relayed_to_the_operator_with_the_client_name(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    accept(world, OLGA, ask_for_human(world))
    # when
    say(world, "My order is late")
    # then
    assert last_text_to(world, OLGA) == "Ann: My order is late"


def test_a_reply_to_a_relayed_message_goes_to_that_conversation(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    alice_request = ask_for_human(world, user_id=CLIENT, first_name="Alice")
    accept(world, OLGA, alice_request)
    bob_request = ask_for_human(world, user_id=OTHER_CLIENT, first_name="Bob")
    accept(world, OLGA, bob_request)
    say(world, "Where is my parcel?", user_id=CLIENT, first_name="Alice")
    [relayed] = [
        call
        for call in world.api.succeeded("sendMessage", chat_id=OLGA)
        if call.params["text"] == "Alice: Where is my parcel?"
    ]
    reply = text_update(world.next_update_id(), user_id=OLGA, text="It left today.")
    reply["message"]["reply_to_message"] = {
        "message_id": message_id_of(world, relayed),
        "from": bot_user(world.bot.telegram_id, world.bot.username),
        "chat": private_chat(OLGA),
        "date": reply["message"]["date"],
        "text": "Alice: Where is my parcel?",
    }
    # when
    world.receive(reply)
    world.settle()
    # then
    message = Message.objects.get(author_kind=AuthorKind.OPERATOR)
    assert (message.dialog_id, message.text) == (alice_request.dialog_id, "It left today.")
    assert last_text_to(world, CLIENT) == "Olga: It left today."


def test_plain_text_goes_to_the_last_accepted_conversation(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    alice_request = ask_for_human(world, user_id=CLIENT, first_name="Alice")
    accept(world, OLGA, alice_request)
    bob_request = ask_for_human(world, user_id=OTHER_CLIENT, first_name="Bob")
    accept(world, OLGA, bob_request)
    # when
    say(world, "Hello Bob", user_id=OLGA)
    # then
    message = Message.objects.get(author_kind=AuthorKind.OPERATOR)
    assert message.dialog_id == bob_request.dialog_id
    assert last_text_to(world, OTHER_CLIENT) == "Olga: Hello Bob"
    assert "Olga: Hello Bob" not in world.texts_to(CLIENT)


def test_an_operator_photo_reaches_the_client_with_the_same_file_id(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    accept(world, OLGA, ask_for_human(world))
    # when
    world.receive(
        photo_update(world.next_update_id(), user_id=OLGA, file_id="LABEL-1", caption="Your label")
    )
    world.settle()
    # then
    [sent] = world.api.succeeded("sendPhoto", chat_id=CLIENT)
    assert (sent.params["photo"], sent.params["caption"]) == ("LABEL-1", "Olga: Your label")
    message = Message.objects.get(author_kind=AuthorKind.OPERATOR)
    assert message.attachments[0]["telegram_file_id"] == "LABEL-1"


# --- commands ---------------------------------------------------------------------------------


def test_done_closes_the_conversation(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    request = ask_for_human(world)
    accept(world, OLGA, request)
    # when
    say(world, "/done", user_id=OLGA)
    # then
    request.refresh_from_db()
    assert (request.status, request.close_reason) == (RequestStatus.CLOSED, CloseReason.OPERATOR)
    assert last_text_to(world, OLGA) == (
        "The conversation with Ann is closed (closed by the operator)."
    )
    rating = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert rating.params["text"] == "Please rate the conversation"
    assert rating.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == (
        f"r:{request.pk}:1"
    )
    assert OperatorAccount.objects.get(telegram_user_id=OLGA).current_request is None


def test_after_done_plain_text_goes_to_the_remaining_conversation(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    alice_request = ask_for_human(world, user_id=CLIENT, first_name="Alice")
    accept(world, OLGA, alice_request)
    bob_request = ask_for_human(world, user_id=OTHER_CLIENT, first_name="Bob")
    accept(world, OLGA, bob_request)
    say(world, "/done", user_id=OLGA)  # closes Bob's, the current one
    # when
    say(world, "Still with you, Alice", user_id=OLGA)
    # then
    bob_request.refresh_from_db()
    assert bob_request.status == RequestStatus.CLOSED
    message = Message.objects.get(author_kind=AuthorKind.OPERATOR)
    assert message.dialog_id == alice_request.dialog_id
    assert last_text_to(world, CLIENT) == "Olga: Still with you, Alice"


@pytest.mark.parametrize("command", ["/help", "/foo", "/start"])
def test_any_other_command_gets_the_help_text(telegram_world, command):
    world = telegram_world
    connect(world, OLGA, "Olga")
    # when
    say(world, command, user_id=OLGA)
    # then
    assert last_text_to(world, OLGA) == HELP
    assert not Dialog.objects.exists()


def test_plain_text_without_an_open_conversation_is_answered(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    # when
    say(world, "Hello?", user_id=OLGA)
    # then
    assert last_text_to(world, OLGA) == (
        "You have no open conversation. Wait for an alert and tap Accept."
    )
    assert not Message.objects.exists()


# --- group notices -------------------------------------------------------------------------


def test_a_new_request_is_announced_in_the_notice_group_once(telegram_world):
    world = telegram_world
    TelegramBot.objects.filter(pk=world.bot.pk).update(notice_group_id=GROUP)
    handoff_update(world, fallback=Fallback.QUEUE, accept_timeout_seconds=1)
    connect(world, OLGA, "Olga")
    request = ask_for_human(world)
    # when the request changes state again (pending -> queued)
    expire(world, request)
    # then
    request.refresh_from_db()
    assert request.status == RequestStatus.QUEUED
    [notice] = world.api.succeeded("sendMessage", chat_id=GROUP)
    assert notice.params["text"].startswith(f"New request in “{world.bot.chat.name}”")
    assert "Client: Ann (Telegram)" in notice.params["text"]


def test_a_notice_group_that_refuses_is_recorded_and_alerts_still_go_out(telegram_world):
    world = telegram_world
    TelegramBot.objects.filter(pk=world.bot.pk).update(notice_group_id=GROUP)
    world.api.fail_bad_request("sendMessage", "Bad Request: chat not found", chat_id=GROUP)
    connect(world, OLGA, "Olga")
    # when
    request = ask_for_human(world)
    # then
    bot = TelegramBot.objects.get(pk=world.bot.pk)
    assert "chat not found" in bot.notice_group_error.lower()
    assert bot.notice_group_error_at is not None
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert len(alerts_to(world, OLGA, request)) == 1


def test_groupid_in_a_group_answers_with_the_group_id(telegram_world):
    world = telegram_world
    # when
    world.receive(
        group_text_update(world.next_update_id(), chat_id=GROUP, user_id=OLGA, text="/groupid")
    )
    world.settle()
    # then
    assert world.texts_to(GROUP) == [f"This group's id is {GROUP}."]


def test_removing_the_bot_from_the_notice_group_is_shown_to_the_admin(telegram_world):
    world = telegram_world
    group_id = -100555
    TelegramBot.objects.filter(pk=world.bot.pk).update(notice_group_id=group_id)
    removed = blocked_update(world.next_update_id(), user_id=1, bot_id=world.bot.telegram_id)
    removed["my_chat_member"]["chat"] = {"id": group_id, "type": "supergroup", "title": "Ops"}
    # when Telegram says the bot was removed from the group
    world.receive(removed)
    world.settle()
    # then the admin sees why notices stop
    world.bot.refresh_from_db()
    assert world.bot.notice_group_error == "the bot was removed from the group"
    assert not TelegramChat.objects.filter(blocked_at__isnull=False).exists()
