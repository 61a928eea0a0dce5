"""Managers on Telegram and distribution (issue 11), through the fake Bot API server:
/online /away /offline, alerts only to the manager a request is offered to (and the note
when the offer moves on), transfer by button then reason, and a conversation handed to
a manager on Telegram from the console."""

from __future__ import annotations

from datetime import timedelta

import pytest

from distributor.enums import DistributionMode
from distributor.models import ChatDistribution, Operator
from distributor.services import chat_distribution_for, operator_presence_set
from handoff.enums import CloseReason, RequestStatus
from handoff.models import Request, RequestEvent
from handoff.services import request_offer_expire, request_transfer
from telegram_bridge.models import AlertState, OperatorAlert, OperatorSession, TransferDraft
from tests.distributor.factories import OperatorFactory
from tests.telegram_bridge.test_operators import (
    CLIENT,
    OLGA,
    PETE,
    accept,
    alerts_to,
    ask_for_human,
    connect,
    last_text_to,
    press,
    say,
)

pytestmark = pytest.mark.django_db(transaction=True)


def presence_of(operator: Operator) -> tuple[str, object]:
    operator.refresh_from_db()
    return operator.presence, operator.presence_expires_at


def automatic(world) -> None:
    distribution = chat_distribution_for(world.bot.chat)
    ChatDistribution.objects.filter(pk=distribution.pk).update(mode=DistributionMode.AUTOMATIC)


def offer_times_out(world, request: Request) -> Request:
    """The sweep's step for an offer nobody accepted in time: offered to the next."""
    request.refresh_from_db()
    moved = request_offer_expire(request=request, now=request.offer_deadline + timedelta(seconds=1))
    world.settle()
    return moved


def buttons_of(call) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [
        (button["text"], button["callback_data"])
        for row in markup["inline_keyboard"]
        for button in row
    ]


def last_keyboard_to(world, chat_id: int):
    return [
        call
        for call in world.api.succeeded("sendMessage", chat_id=chat_id)
        if call.params.get("reply_markup")
    ][-1]


# --- presence ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "presence", "reply"),
    [
        ("/online", "online", "You are online: new requests come to you."),
        ("/away", "away", "You are away"),
        ("/offline", "offline", "You are offline"),
    ],
)
def test_a_manager_sets_their_presence_with_a_command(telegram_world, command, presence, reply):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    # when
    say(world, command, user_id=OLGA)
    # then: set without an expiry (a manager on Telegram has no heartbeat), and confirmed
    assert presence_of(olga) == (presence, None)
    assert last_text_to(world, OLGA).startswith(reply)


def test_presence_commands_from_someone_who_is_not_a_manager_change_nobody(telegram_world):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    say(world, "/online", user_id=OLGA)
    # when: a client types it
    say(world, "/offline", user_id=CLIENT)
    # then
    assert presence_of(olga) == ("online", None)
    assert not any("You are offline" in text for text in world.texts_to(CLIENT))


def test_the_help_names_the_new_commands(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    say(world, "/help", user_id=OLGA)
    help_text = last_text_to(world, OLGA)
    for command in ("/done", "/transfer", "/online", "/away", "/offline"):
        assert command in help_text


# --- automatic distribution: the offer's alert ----------------------------------------------


def test_in_automatic_mode_only_the_manager_offered_the_request_gets_the_alert(telegram_world):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    connect(world, PETE, "Pete")
    automatic(world)
    say(world, "/online", user_id=OLGA)  # Pete stays offline
    # when
    request = ask_for_human(world)
    # then
    assert request.offered_to_id == olga.pk
    assert len(alerts_to(world, OLGA, request)) == 1
    assert alerts_to(world, PETE, request) == []


def test_a_request_offered_to_nobody_alerts_nobody(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    automatic(world)
    request = ask_for_human(world)  # nobody online
    assert request.offered_to_id is None
    assert alerts_to(world, OLGA, request) == []


def test_when_the_offer_times_out_the_first_alert_loses_its_buttons_and_says_so(telegram_world):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    pete = connect(world, PETE, "Pete")
    automatic(world)
    say(world, "/online", user_id=OLGA)
    request = ask_for_human(world)
    say(world, "/online", user_id=PETE)
    # when: Olga does not accept in time
    moved = offer_times_out(world, request)
    # then: offered to Pete; Olga's alert is edited without buttons, with the note
    assert moved.offered_to_id == pete.pk
    [edit] = world.api.succeeded("editMessageText", chat_id=OLGA)
    assert edit.params["text"].endswith("Offered to the next manager.")
    assert not (edit.params.get("reply_markup") or {}).get("inline_keyboard")
    alert = OperatorAlert.objects.get(request=request, account__operator=olga)
    assert alert.state == AlertState.MOVED
    assert len(alerts_to(world, PETE, request)) == 1
    # a late tap on the old alert by Olga is refused: Pete may still take it
    press(world, f"a:{request.pk}", user_id=OLGA)
    request.refresh_from_db()
    assert (request.status, request.operator_id) == (RequestStatus.PENDING, None)
    accept(world, PETE, request)
    request.refresh_from_db()
    assert (request.status, request.operator_id) == (RequestStatus.ACCEPTED, pete.pk)


def test_an_offer_timing_out_with_nobody_next_still_settles_the_first_alert(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    automatic(world)
    say(world, "/online", user_id=OLGA)
    request = ask_for_human(world)
    # when
    moved = offer_times_out(world, request)
    # then
    assert moved.offered_to_id is None
    [edit] = world.api.succeeded("editMessageText", chat_id=OLGA)
    assert edit.params["text"].endswith("Offered to the next manager.")


def test_rejecting_an_offer_passes_it_on_and_says_you_passed(telegram_world):
    world = telegram_world
    olga = connect(world, OLGA, "Olga")
    pete = connect(world, PETE, "Pete")
    automatic(world)
    say(world, "/online", user_id=OLGA)
    request = ask_for_human(world)
    say(world, "/online", user_id=PETE)
    # when
    [alert] = alerts_to(world, OLGA, request)
    press(world, f"x:{request.pk}", user_id=OLGA)
    # then
    request.refresh_from_db()
    assert request.offered_to_id == pete.pk
    assert last_text_to(world, OLGA).endswith("You passed on this request.")
    assert OperatorAlert.objects.get(request=request, account__operator=olga).state == (
        AlertState.REJECTED
    )
    assert len(alerts_to(world, PETE, request)) == 1
    assert alert.params["chat_id"] == OLGA


def test_in_broadcast_mode_every_manager_is_still_alerted(telegram_world):
    world = telegram_world
    connect(world, OLGA, "Olga")
    connect(world, PETE, "Pete")
    request = ask_for_human(world)
    assert len(alerts_to(world, OLGA, request)) == 1
    assert len(alerts_to(world, PETE, request)) == 1


# --- transfer from Telegram -----------------------------------------------------------------


def accepted_by_olga(world):
    olga = connect(world, OLGA, "Olga")
    pete = connect(world, PETE, "Pete")
    request = ask_for_human(world)
    accept(world, OLGA, request)
    return olga, pete, request


def test_the_conversation_message_carries_a_transfer_button(telegram_world):
    world = telegram_world
    _olga, _pete, request = accepted_by_olga(world)
    call = last_keyboard_to(world, OLGA)
    assert call.params["text"].startswith("You are talking to Ann now.")
    assert buttons_of(call) == [("Transfer", f"t:{request.pk}")]


def test_a_manager_transfers_a_conversation_to_another_manager_with_a_reason(telegram_world):
    world = telegram_world
    olga, pete, request = accepted_by_olga(world)
    say(world, "/online", user_id=PETE)
    Operator.objects.filter(pk=pete.pk).update(max_simultaneous_dialogs=3)
    # when: Transfer, then Pete, then the reason
    press(world, f"t:{request.pk}", user_id=OLGA)
    choices = last_keyboard_to(world, OLGA)
    assert choices.params["text"] == "Transfer the conversation with Ann to:"
    assert buttons_of(choices) == [
        ("Pete · 0/3", f"tt:{request.pk}:{pete.pk}"),
        ("Back to the bot", f"tt:{request.pk}:bot"),
    ]
    press(world, f"tt:{request.pk}:{pete.pk}", user_id=OLGA)
    assert "Send the reason" in last_text_to(world, OLGA)
    say(world, "billing question", user_id=OLGA)
    # then: Pete holds it, with the reason in its event
    request.refresh_from_db()
    assert (request.status, request.operator_id) == (RequestStatus.ACCEPTED, pete.pk)
    assert RequestEvent.objects.filter(request=request).last().note == (
        "transferred to Pete: billing question"
    )
    # the reason never reached the client
    assert "billing question" not in " ".join(world.texts_to(CLIENT))
    # Olga is told, Pete gets the conversation with who, why and the history
    assert last_text_to(world, OLGA) == "The conversation with Ann is now with Pete."
    handed = last_keyboard_to(world, PETE)
    assert handed.params["text"].startswith(
        "Olga transferred the conversation with Ann to you: billing question"
    )
    assert "Ann: hello" in handed.params["text"]
    assert buttons_of(handed) == [("Transfer", f"t:{request.pk}")]
    assert OperatorSession.objects.get(request=request).account.operator_id == pete.pk
    assert not TransferDraft.objects.exists()
    # the client's next message goes to Pete, not Olga; what Olga writes goes nowhere
    say(world, "are you there?", user_id=CLIENT)
    assert last_text_to(world, PETE) == "Ann: are you there?"
    assert "are you there?" not in " ".join(world.texts_to(OLGA))
    say(world, "still me", user_id=OLGA)
    assert "still me" not in " ".join(world.texts_to(CLIENT))
    assert olga.pk != request.operator_id


def test_transfer_back_to_the_bot_with_the_command(telegram_world):
    world = telegram_world
    _olga, _pete, request = accepted_by_olga(world)
    # when
    say(world, "/transfer", user_id=OLGA)
    press(world, f"tt:{request.pk}:bot", user_id=OLGA)
    say(world, "just wanted the opening hours", user_id=OLGA)
    # then
    request.refresh_from_db()
    assert (request.status, request.close_reason) == (
        RequestStatus.CLOSED,
        CloseReason.TRANSFERRED_TO_BOT,
    )
    assert "is closed" in last_text_to(world, OLGA)


def test_the_transfer_list_leaves_out_offline_managers(telegram_world):
    world = telegram_world
    _olga, _pete, request = accepted_by_olga(world)  # Pete never said /online
    press(world, f"t:{request.pk}", user_id=OLGA)
    assert buttons_of(last_keyboard_to(world, OLGA)) == [
        ("Back to the bot", f"tt:{request.pk}:bot")
    ]


def test_a_transfer_to_a_manager_gone_offline_meanwhile_is_refused_plainly(telegram_world):
    world = telegram_world
    _olga, pete, request = accepted_by_olga(world)
    say(world, "/online", user_id=PETE)
    press(world, f"t:{request.pk}", user_id=OLGA)
    press(world, f"tt:{request.pk}:{pete.pk}", user_id=OLGA)
    say(world, "/offline", user_id=PETE)
    # when
    say(world, "over to you", user_id=OLGA)
    # then
    assert last_text_to(world, OLGA) == "The conversation was not transferred: Pete is offline."
    request.refresh_from_db()
    assert request.operator.display_name == "Olga"
    assert "over to you" not in " ".join(world.texts_to(CLIENT))
    # and the next message goes to the client again
    say(world, "sorry for the wait", user_id=OLGA)
    assert "sorry for the wait" in " ".join(world.texts_to(CLIENT))


def test_cancel_drops_a_transfer_being_written(telegram_world):
    world = telegram_world
    _olga, _pete, request = accepted_by_olga(world)
    press(world, f"tt:{request.pk}:bot", user_id=OLGA)
    # when
    say(world, "/cancel", user_id=OLGA)
    say(world, "how can I help?", user_id=OLGA)
    # then
    assert not TransferDraft.objects.exists()
    request.refresh_from_db()
    assert request.status == RequestStatus.ACCEPTED
    assert "how can I help?" in " ".join(world.texts_to(CLIENT))


@pytest.mark.parametrize(
    "data",
    ["t:abc", "tt:REQ:", "tt:REQ:999999", "tt:REQ:nobody", "t:999999", "tt:999999:bot"],
)
def test_bad_transfer_buttons_change_nothing(telegram_world, data):
    world = telegram_world
    _olga, _pete, request = accepted_by_olga(world)
    before = list(Request.objects.values_list("pk", "status", "operator_id"))
    # when
    press(world, data.replace("REQ", str(request.pk)), user_id=OLGA)
    # then
    assert not TransferDraft.objects.exists()
    assert list(Request.objects.values_list("pk", "status", "operator_id")) == before


def test_someone_who_is_not_the_holder_cannot_transfer(telegram_world):
    world = telegram_world
    _olga, _pete, request = accepted_by_olga(world)
    press(world, f"t:{request.pk}", user_id=PETE)
    assert last_text_to(world, PETE) == "You have no open conversation to transfer."
    press(world, f"tt:{request.pk}:bot", user_id=PETE)
    assert not TransferDraft.objects.exists()


# --- a transfer from the console to a manager on Telegram -----------------------------------


def test_a_conversation_transferred_from_the_console_reaches_the_manager_on_telegram(
    telegram_world,
):
    world = telegram_world
    pete = connect(world, PETE, "Pete")
    operator_presence_set(operator=pete, presence="online")
    ivan = OperatorFactory(display_name="Ivan", chats=[world.bot.chat])  # console only
    request = ask_for_human(world)
    from handoff.services import request_accept

    request_accept(request=request, operator=ivan)
    world.settle()
    # when
    request_transfer(request=request.pk, operator=ivan, to_operator=pete, reason="VIP client")
    world.settle()
    # then
    assert last_text_to(world, PETE).startswith(
        "Ivan transferred the conversation with Ann to you: VIP client"
    )
    say(world, "hi again", user_id=CLIENT)
    assert last_text_to(world, PETE) == "Ann: hi again"
    say(world, "Pete here", user_id=PETE)
    assert "Pete here" in " ".join(world.texts_to(CLIENT))


def test_a_reason_too_long_is_refused_and_the_conversation_stays(telegram_world):
    world = telegram_world
    _olga, _pete, request = accepted_by_olga(world)
    press(world, f"tt:{request.pk}:bot", user_id=OLGA)
    # when
    say(world, "x" * 151, user_id=OLGA)
    # then
    assert last_text_to(world, OLGA) == (
        "The conversation was not transferred: The reason is too long (at most 150 characters)."
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.ACCEPTED
    assert not TransferDraft.objects.exists()
    assert "x" * 151 not in " ".join(world.texts_to(CLIENT))
