"""Telegram users as clients, through the real services: updates are stored as the
webhook stores them, fed to python-telegram-bot, and what the bot says goes out
through the outbox to the fake Bot API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chats.enums import AuthorKind, HeadsetMode, Messenger, ScriptKind
from chats.models import Chat, Client, Dialog, Message
from chats.services import dialog_headset_reveal, message_post
from distributor.models import Customer, Operator
from distributor.services import auto_reply_defaults
from handoff.enums import CloseReason, Fallback, FormFieldKind, RequestReason, RequestStatus
from handoff.models import Feedback, FormField, HandoffSettings, Request
from handoff.services import (
    operator_message_post,
    request_accept,
    request_close,
    request_expire,
)
from telegram_bridge.models import (
    FormProgress,
    OutboundMessage,
    SendStatus,
    TelegramChat,
    TelegramUpdate,
)
from telegram_bridge.services.operators import connect_link_create
from tests.chats.factories import ScriptFactory, StepButtonFactory, StepFactory
from tests.distributor.factories import OperatorFactory
from tests.telegram_bridge.telegram_updates import (
    blocked_update,
    callback_update,
    document_update,
    photo_update,
    text_update,
)

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 501
OPERATOR_USER = 601
NEW_MESSAGE_METHODS = ("sendMessage", "sendPhoto", "sendDocument")
# what a client is told when a request opens and no manager is online
OFFLINE_REPLY = auto_reply_defaults("en")["reply_offline"]


# --- steps a test takes ------------------------------------------------------------------


def say(world, text: str, user_id: int = CLIENT) -> None:
    world.receive(text_update(world.next_update_id(), user_id=user_id, text=text))
    world.settle()


def press(world, data: str, message_id: int = 1, user_id: int = CLIENT) -> None:
    world.receive(
        callback_update(world.next_update_id(), user_id=user_id, data=data, message_id=message_id)
    )
    world.settle()


def message_id_of(world, call) -> int:
    """The message_id the fake gave the message this call sent (it counts per chat)."""
    sent = [
        other
        for other in world.api.succeeded()
        if other.method in NEW_MESSAGE_METHODS
        and other.params.get("chat_id") == call.params["chat_id"]
    ]
    return next(index for index, other in enumerate(sent) if other is call) + 1


def sent_with_text(world, text: str, chat_id: int = CLIENT):
    return [
        call
        for call in world.api.succeeded("sendMessage", chat_id=chat_id)
        if call.params["text"] == text
    ]


def buttons_of(call) -> list[list[dict]]:
    return call.params["reply_markup"]["inline_keyboard"]


def chat_update(world, **fields) -> None:
    Chat.objects.filter(pk=world.bot.chat_id).update(**fields)


def handoff_update(world, **fields) -> None:
    HandoffSettings.objects.filter(chat_id=world.bot.chat_id).update(**fields)


def ask_for_human(world) -> Request:
    say(world, "hello")
    say(world, "/human")
    return Request.objects.get()


def accepted_from_console(world, name: str = "Olga") -> tuple[Request, Operator]:
    request = ask_for_human(world)
    operator = OperatorFactory(display_name=name, chats=[world.bot.chat])
    request_accept(request=request, operator=operator)
    world.settle()
    request.refresh_from_db()
    return request, operator


def expire(world, request: Request) -> None:
    request_expire(request=request, now=request.accept_deadline + timedelta(seconds=1))
    world.settle()


def connect_operator(world, user_id: int = OPERATOR_USER, name: str = "Olga") -> Operator:
    operator = OperatorFactory(display_name=name, chats=[world.bot.chat])
    link = connect_link_create(bot=world.bot, operator=operator)
    say(world, f"/start {link.token}", user_id=user_id)
    return operator


def accepted_on_telegram(world) -> Request:
    connect_operator(world)
    request = ask_for_human(world)
    press(world, f"a:{request.pk}", user_id=OPERATOR_USER)
    request.refresh_from_db()
    return request


def start_script(world):
    """A start script whose step has a script button (to "Prices") and a URL button."""
    chat = world.bot.chat
    prices = ScriptFactory(chat=chat, name="Prices")
    StepFactory(script=prices, text="Our prices start at 10 EUR.")
    start = ScriptFactory(chat=chat, name="Start", kind=ScriptKind.START)
    step = StepFactory(script=start, text="Welcome! How can we help?")
    script_button = StepButtonFactory(step=step, label="Prices", target_script=prices)
    url_button = StepButtonFactory(step=step, label="Website", url="https://example.com/")
    return script_button, url_button


def handoff_form(world) -> list[FormField]:
    settings = HandoffSettings.objects.get(chat_id=world.bot.chat_id)
    return [
        FormField.objects.create(settings=settings, position=0, label="Your name?"),
        FormField.objects.create(
            settings=settings, position=1, label="Your e-mail?", kind=FormFieldKind.EMAIL
        ),
        FormField.objects.create(
            settings=settings,
            position=2,
            label="Topic?",
            kind=FormFieldKind.CHOICE,
            choices="Billing\nDelivery",
        ),
        FormField.objects.create(
            settings=settings,
            position=3,
            label="Your phone?",
            kind=FormFieldKind.PHONE,
            required=False,
        ),
    ]


def form_filled_up_to_topic(world) -> None:
    handoff_form(world)
    say(world, "hello")
    say(world, "/human")
    say(world, "Ann Lee")
    say(world, "Ann@Example.com")


# --- a client arrives, the bot answers -----------------------------------------------------


def test_first_message_creates_a_telegram_client_and_a_dialog(telegram_world):
    world = telegram_world
    # when
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="hi", first_name="Ann"))
    world.settle()
    # then
    client = Client.objects.get()
    assert (client.messenger, client.external_id, client.name, client.chat_id) == (
        Messenger.TELEGRAM,
        str(CLIENT),
        "Ann",
        world.bot.chat_id,
    )
    dialog = Dialog.objects.get()
    assert (dialog.client, dialog.messenger) == (client, Messenger.TELEGRAM)


def test_start_script_greets_with_a_script_button_and_a_url_button(telegram_world):
    world = telegram_world
    script_button, url_button = start_script(world)
    # when
    say(world, "/start")
    # then
    greeting = sent_with_text(world, "Welcome! How can we help?")
    assert len(greeting) == 1
    assert buttons_of(greeting[0]) == [
        [{"text": "Prices", "callback_data": f"b:{script_button.pk}"}],
        [{"text": "Website", "url": "https://example.com/"}],
    ]


def test_pressing_a_script_button_runs_its_target_script(telegram_world):
    world = telegram_world
    script_button, _url_button = start_script(world)
    say(world, "/start")
    greeting = sent_with_text(world, "Welcome! How can we help?")[0]
    # when
    press(world, f"b:{script_button.pk}", message_id=message_id_of(world, greeting))
    # then
    assert world.texts_to(CLIENT)[-1] == "Our prices start at 10 EUR."
    assert len(world.api.succeeded("answerCallbackQuery")) == 1
    pressed = Message.objects.get(author_kind=AuthorKind.CLIENT)
    assert pressed.text == "Prices"


def test_a_replayed_button_press_runs_the_target_script_once(telegram_world):
    world = telegram_world
    script_button, _url_button = start_script(world)
    say(world, "/start")
    update = callback_update(world.next_update_id(), user_id=CLIENT, data=f"b:{script_button.pk}")
    # when the webhook gets the same update twice
    first = world.receive(update)
    second = world.receive(update)
    world.settle()
    # then
    assert (first, second) == (True, False)
    assert world.texts_to(CLIENT).count("Our prices start at 10 EUR.") == 1
    assert Message.objects.filter(author_kind=AuthorKind.CLIENT).count() == 1


def test_a_client_arriving_through_a_deep_link_is_greeted(telegram_world):
    world = telegram_world
    start_script(world)
    # when
    say(world, "/start from-the-website")
    # then
    assert world.texts_to(CLIENT) == ["Welcome! How can we help?"]
    assert Client.objects.filter(external_id=str(CLIENT)).exists()


def test_a_keyword_trigger_answers(telegram_world):
    world = telegram_world
    delivery = ScriptFactory(chat=world.bot.chat, name="Delivery", keywords="delivery\nshipping")
    StepFactory(script=delivery, text="We deliver in two days.")
    # when
    say(world, "When is the Delivery?")
    # then
    assert world.texts_to(CLIENT) == ["We deliver in two days."]


def test_the_fallback_answers_an_unknown_text(telegram_world):
    world = telegram_world
    fallback = ScriptFactory(chat=world.bot.chat, name="Fallback", kind=ScriptKind.FALLBACK)
    StepFactory(script=fallback, text="Sorry, try one of the buttons.")
    # when
    say(world, "qwerty asdf")
    # then
    assert world.texts_to(CLIENT) == ["Sorry, try one of the buttons."]


# --- asking for a person -----------------------------------------------------------------------


def test_the_connect_operator_mark_opens_a_request(telegram_world):
    world = telegram_world
    script = ScriptFactory(chat=world.bot.chat, name="Human", keywords="operator")
    StepFactory(script=script, position=0, text="Let me find a person.", connect_operator=True)
    StepFactory(script=script, position=1, text="Never reached.")
    # when
    say(world, "operator please")
    # then
    request = Request.objects.get()
    assert (request.status, request.reason) == (RequestStatus.PENDING, RequestReason.SCRIPT)
    assert world.texts_to(CLIENT) == [
        "Let me find a person.",
        OFFLINE_REPLY,
    ]


def test_human_is_refused_when_the_chat_never_shows_the_headset(telegram_world):
    world = telegram_world
    chat_update(world, headset_mode=HeadsetMode.NEVER)
    say(world, "hello")
    # when
    say(world, "/human")
    # then
    assert not Request.objects.exists()
    assert world.texts_to(CLIENT)[-1] == (
        "This chat connects you to a person when the bot offers it."
    )


def test_human_is_refused_while_the_trigger_has_not_revealed_the_headset(telegram_world):
    world = telegram_world
    chat_update(world, headset_mode=HeadsetMode.TRIGGER)
    say(world, "hello")
    # when
    say(world, "/human")
    # then
    assert not Request.objects.exists()
    assert world.texts_to(CLIENT)[-1] == (
        "This chat connects you to a person when the bot offers it."
    )


def test_a_revealed_headset_offers_a_person(telegram_world):
    world = telegram_world
    chat_update(world, headset_mode=HeadsetMode.TRIGGER)
    say(world, "hello")
    # when the trigger decides
    dialog_headset_reveal(dialog=Dialog.objects.get())
    world.settle()
    # then
    offer = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert offer.params["text"] == "Would you like to talk to a person?"
    assert buttons_of(offer) == [[{"text": "Talk to a person", "callback_data": "h"}]]


def test_the_talk_to_a_person_button_opens_a_request(telegram_world):
    world = telegram_world
    chat_update(world, headset_mode=HeadsetMode.TRIGGER)
    say(world, "hello")
    dialog_headset_reveal(dialog=Dialog.objects.get())
    world.settle()
    offer = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    # when
    press(world, "h", message_id=message_id_of(world, offer))
    # then: the trigger offered the person, and the request says so
    request = Request.objects.get()
    assert (request.status, request.reason) == (RequestStatus.PENDING, RequestReason.TRIGGER)
    assert world.texts_to(CLIENT)[-1] == OFFLINE_REPLY


# --- the pre-handoff form, question by question ---------------------------------------------


def test_the_handoff_form_asks_one_question_at_a_time(telegram_world):
    world = telegram_world
    handoff_form(world)
    say(world, "hello")
    # when
    say(world, "/human")
    # then
    assert not Request.objects.exists()
    assert world.texts_to(CLIENT)[-2:] == [
        "Before we connect you, please answer a few questions.",
        "(1/4) Your name?",
    ]
    say(world, "Ann Lee")
    assert world.texts_to(CLIENT)[-1] == "(2/4) Your e-mail?"


def test_an_invalid_email_gets_the_error_and_the_same_question(telegram_world):
    world = telegram_world
    handoff_form(world)
    say(world, "hello")
    say(world, "/human")
    say(world, "Ann Lee")
    # when
    say(world, "not-an-email")
    # then
    assert world.texts_to(CLIENT)[-1] == "Enter a valid e-mail address.\n(2/4) Your e-mail?"
    assert FormProgress.objects.get().position == 1
    say(world, "Ann@Example.com")
    assert world.texts_to(CLIENT)[-1] == "(3/4) Topic?"


def test_a_choice_is_offered_and_answered_with_its_button(telegram_world):
    world = telegram_world
    form_filled_up_to_topic(world)
    question = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert buttons_of(question) == [
        [{"text": "Billing", "callback_data": "f:2:0"}],
        [{"text": "Delivery", "callback_data": "f:2:1"}],
    ]
    # when
    press(world, "f:2:1", message_id=message_id_of(world, question))
    # then
    progress = FormProgress.objects.get()
    topic = FormField.objects.get(label="Topic?")
    assert progress.answers[str(topic.pk)] == "Delivery"
    assert world.texts_to(CLIENT)[-1] == "(4/4) Your phone?"


def test_an_optional_question_is_skipped_and_the_request_opens_with_the_answers(telegram_world):
    world = telegram_world
    form_filled_up_to_topic(world)
    press(world, "f:2:1")
    skip_offer = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert buttons_of(skip_offer) == [[{"text": "Skip", "callback_data": "f:3:skip"}]]
    # when
    press(world, "f:3:skip", message_id=message_id_of(world, skip_offer))
    # then
    request = Request.objects.get()
    assert request.status == RequestStatus.PENDING
    assert request.form_answers == [
        {"label": "Your name?", "value": "Ann Lee"},
        {"label": "Your e-mail?", "value": "ann@example.com"},
        {"label": "Topic?", "value": "Delivery"},
    ]
    assert not FormProgress.objects.exists()
    assert world.texts_to(CLIENT)[-1] == OFFLINE_REPLY


def test_form_answers_are_recorded_as_client_messages(telegram_world):
    world = telegram_world
    form_filled_up_to_topic(world)
    press(world, "f:2:1")
    # when
    say(world, "+39 333 123 4567")
    # then
    texts = list(
        Message.objects.filter(author_kind=AuthorKind.CLIENT)
        .order_by("sequence")
        .values_list("text", flat=True)
    )
    # each answer as typed, then the answered form (what the console shows)
    assert texts == [
        "hello",
        "Ann Lee",
        "Ann@Example.com",
        "Delivery",
        "+39 333 123 4567",
        "Your name?: Ann Lee\nYour e-mail?: ann@example.com\nTopic?: Delivery\n"
        "Your phone?: +393331234567",
    ]
    assert Request.objects.get().form_answers[-1] == {
        "label": "Your phone?",
        "value": "+393331234567",
    }


def test_cancel_drops_the_form(telegram_world):
    world = telegram_world
    handoff_form(world)
    say(world, "hello")
    say(world, "/human")
    say(world, "Ann Lee")
    # when
    say(world, "/cancel")
    # then
    assert not FormProgress.objects.exists()
    assert not Request.objects.exists()
    assert world.texts_to(CLIENT)[-1] == "The form was cancelled."
    say(world, "Ann@Example.com")  # no longer an answer: no question follows
    assert "(3/4) Topic?" not in world.texts_to(CLIENT)


def test_an_option_of_an_answered_question_does_not_answer_the_next_one(telegram_world):
    world = telegram_world
    settings = HandoffSettings.objects.get(chat_id=world.bot.chat_id)
    FormField.objects.create(
        settings=settings, position=0, label="Topic?", kind="choice", choices="Billing\nDelivery"
    )
    FormField.objects.create(
        settings=settings, position=1, label="Urgent?", kind="choice", choices="No\nYes"
    )
    say(world, "hello")
    say(world, "/human")
    topic_question = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    press(world, "f:0:0", message_id=message_id_of(world, topic_question))
    # when the client taps "Delivery" on the already answered topic question
    press(world, "f:0:1", message_id=message_id_of(world, topic_question))
    # then the urgency question is still waiting for its own answer
    assert not Request.objects.exists()
    assert FormProgress.objects.get().position == 1


# --- nobody accepted: the fallbacks ------------------------------------------------------------


def test_the_queue_fallback_tells_the_client_their_position(telegram_world):
    world = telegram_world
    handoff_update(world, fallback=Fallback.QUEUE, accept_timeout_seconds=1)
    request = ask_for_human(world)
    # when
    expire(world, request)
    # then
    request.refresh_from_db()
    assert request.status == RequestStatus.QUEUED
    assert world.texts_to(CLIENT)[-1] == ("All operators are busy. You are number 1 in the queue.")


def test_the_form_fallback_asks_for_contact_details_one_by_one(telegram_world):
    world = telegram_world
    handoff_update(world, fallback=Fallback.FORM, accept_timeout_seconds=1)
    request = ask_for_human(world)
    # when
    expire(world, request)
    # then
    assert world.texts_to(CLIENT)[-2:] == [
        "Our operators are busy. Leave your contact details and we will get back to you.",
        "(1/2) Your name?",
    ]
    say(world, "Ann Lee")
    assert world.texts_to(CLIENT)[-1] == "(2/2) Your phone number or e-mail?"


@pytest.mark.parametrize(
    ("contact", "expected"),
    [
        ("Ann@Example.COM", {"email": "ann@example.com", "phone": None}),
        ("+39 (333) 123-45-67", {"email": None, "phone": "+393331234567"}),
    ],
)
def test_the_contact_form_binds_a_customer_to_the_client(telegram_world, contact, expected):
    world = telegram_world
    handoff_update(world, fallback=Fallback.FORM, accept_timeout_seconds=1)
    expire(world, ask_for_human(world))
    say(world, "Ann Lee")
    # when
    say(world, contact)
    # then
    customer = Customer.objects.get()
    assert {"email": customer.email, "phone": customer.phone} == expected
    assert customer.name == "Ann Lee"
    assert Client.objects.get().customer_binding.customer == customer
    assert not FormProgress.objects.exists()
    assert world.texts_to(CLIENT)[-1] == "Thank you! We will get back to you soon."


def test_an_invalid_contact_is_refused_and_asked_again(telegram_world):
    world = telegram_world
    handoff_update(world, fallback=Fallback.FORM, accept_timeout_seconds=1)
    expire(world, ask_for_human(world))
    say(world, "Ann Lee")
    # when
    say(world, "call me maybe")
    # then
    assert not Customer.objects.exists()
    assert FormProgress.objects.get().position == 1
    last = world.texts_to(CLIENT)[-1]
    assert "A phone number has 7 to 15 digits." in last
    assert last.endswith("\n(2/2) Your phone number or e-mail?")


def test_an_invalid_contact_error_is_shown_without_the_field_key(telegram_world):
    world = telegram_world
    handoff_update(world, fallback=Fallback.FORM, accept_timeout_seconds=1)
    expire(world, ask_for_human(world))
    say(world, "Ann Lee")
    # when
    say(world, "call me maybe")
    # then
    assert world.texts_to(CLIENT)[-1] == (
        "A phone number has 7 to 15 digits.\n(2/2) Your phone number or e-mail?"
    )


def test_an_unanswered_contact_form_does_not_swallow_the_next_conversation(telegram_world):
    world = telegram_world
    handoff_update(world, fallback=Fallback.FORM, accept_timeout_seconds=1)
    connect_operator(world)
    expire(world, ask_for_human(world))
    # the client ignores the contact form and asks for a person again; Olga accepts
    say(world, "/human")
    second = Request.objects.get(status=RequestStatus.PENDING)
    press(world, f"a:{second.pk}", user_id=OPERATOR_USER)
    # when
    say(world, "My order is late")
    # then
    assert world.texts_to(OPERATOR_USER)[-1] == "Ann: My order is late"
    assert "(2/2) Your phone number or e-mail?" not in world.texts_to(CLIENT)


def test_the_message_fallback_says_nobody_is_available(telegram_world):
    world = telegram_world
    handoff_update(world, fallback=Fallback.MESSAGE, accept_timeout_seconds=1)
    request = ask_for_human(world)
    # when
    expire(world, request)
    # then
    request.refresh_from_db()
    assert (request.status, request.close_reason) == (
        RequestStatus.CLOSED,
        CloseReason.UNAVAILABLE,
    )
    assert world.texts_to(CLIENT)[-1] == (
        "Sorry, no operator is available right now. Please try again later."
    )


# --- the end of a conversation: notice, rating, after-end script -----------------------------


@pytest.mark.parametrize(
    ("scale", "rows"),
    [
        (2, [["1", "2"]]),
        (5, [["1", "2", "3", "4", "5"]]),
        (10, [["1", "2", "3", "4", "5"], ["6", "7", "8", "9", "10"]]),
    ],
)
def test_end_by_the_client_sends_the_end_notice_and_the_rating_keyboard(
    telegram_world, scale, rows
):
    world = telegram_world
    handoff_update(world, feedback_scale=scale)
    request, _operator = accepted_from_console(world)
    # when
    say(world, "/end")
    # then
    request.refresh_from_db()
    assert (request.status, request.close_reason) == (RequestStatus.CLOSED, CloseReason.CLIENT)
    assert world.texts_to(CLIENT)[-2:] == [
        "The conversation with the operator has ended.",
        "Please rate the conversation",
    ]
    rating = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert [[button["text"] for button in row] for row in buttons_of(rating)] == rows
    assert buttons_of(rating)[-1][-1]["callback_data"] == f"r:{request.pk}:{scale}"


def test_a_close_by_the_operator_asks_for_a_rating(telegram_world):
    world = telegram_world
    request, operator = accepted_from_console(world)
    # when
    request_close(request=request, reason=CloseReason.OPERATOR, actor=operator)
    world.settle()
    # then
    rating = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert rating.params["text"] == "Please rate the conversation"
    assert buttons_of(rating)[0][0]["callback_data"] == f"r:{request.pk}:1"


def test_pressing_a_score_stores_feedback_and_edits_the_rating_message(telegram_world):
    world = telegram_world
    request, _operator = accepted_from_console(world)
    say(world, "/end")
    rating = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    rating_id = message_id_of(world, rating)
    # when
    press(world, f"r:{request.pk}:4", message_id=rating_id)
    # then
    feedback = Feedback.objects.get()
    assert (feedback.score, feedback.scale, feedback.request_id) == (4, 5, request.pk)
    assert feedback.operator_name == "Olga"
    edit = world.api.succeeded("editMessageText", chat_id=CLIENT)[-1]
    assert edit.params["message_id"] == rating_id
    assert edit.params["text"] == "Thank you for your rating: 4 of 5."
    assert "reply_markup" not in edit.params


def test_a_second_score_press_stores_no_second_feedback(telegram_world):
    world = telegram_world
    request, _operator = accepted_from_console(world)
    say(world, "/end")
    press(world, f"r:{request.pk}:4")
    # when
    press(world, f"r:{request.pk}:2")
    # then
    assert Feedback.objects.count() == 1
    assert Feedback.objects.get().score == 4


def test_the_after_end_script_runs_when_the_conversation_ends(telegram_world):
    world = telegram_world
    after = ScriptFactory(chat=world.bot.chat, name="After")
    StepFactory(script=after, text="Anything else we can do?")
    handoff_update(world, script_after_operator_end=after)
    request, operator = accepted_from_console(world)
    # when
    request_close(request=request, reason=CloseReason.OPERATOR, actor=operator)
    world.settle()
    # then
    assert world.texts_to(CLIENT)[-3:] == [
        "The conversation with the operator has ended.",
        "Please rate the conversation",
        "Anything else we can do?",
    ]


# --- operators write, clients send files -----------------------------------------------------


def test_a_console_operator_reply_reaches_the_user_with_the_operator_name(telegram_world):
    world = telegram_world
    request, operator = accepted_from_console(world, name="Olga")
    # when
    operator_message_post(
        request=request, operator=operator, text="How can I help?", client_msg_id="console-1"
    )
    world.settle()
    # then
    assert world.texts_to(CLIENT)[-1] == "Olga: How can I help?"
    assert "Connected to Olga" in world.texts_to(CLIENT)


def test_a_photo_from_the_client_is_stored_as_an_attachment(telegram_world):
    world = telegram_world
    # when
    world.receive(
        photo_update(
            world.next_update_id(), user_id=CLIENT, file_id="PHOTO-1", caption="my receipt"
        )
    )
    world.settle()
    # then
    message = Message.objects.get(author_kind=AuthorKind.CLIENT)
    assert message.text == "my receipt"
    [attachment] = message.attachments
    assert (attachment["kind"], attachment["telegram_file_id"], attachment["bot"]) == (
        "photo",
        "PHOTO-1",
        world.bot.pk,
    )


def test_a_document_from_the_client_is_stored_as_an_attachment(telegram_world):
    world = telegram_world
    # when
    world.receive(
        document_update(
            world.next_update_id(), user_id=CLIENT, file_id="DOC-1", file_name="invoice.pdf"
        )
    )
    world.settle()
    # then
    message = Message.objects.get(author_kind=AuthorKind.CLIENT)
    assert message.text == "📎 invoice.pdf"
    [attachment] = message.attachments
    assert (attachment["kind"], attachment["telegram_file_id"], attachment["file_name"]) == (
        "document",
        "DOC-1",
        "invoice.pdf",
    )


def test_a_photo_is_relayed_to_the_telegram_operator_with_the_same_file_id(telegram_world):
    world = telegram_world
    accepted_on_telegram(world)
    # when
    world.receive(
        photo_update(
            world.next_update_id(), user_id=CLIENT, file_id="PHOTO-1", caption="my receipt"
        )
    )
    world.settle()
    # then
    [relayed] = world.api.succeeded("sendPhoto", chat_id=OPERATOR_USER)
    assert relayed.params["photo"] == "PHOTO-1"
    assert relayed.params["caption"] == "Ann: my receipt"


def test_a_document_is_relayed_to_the_telegram_operator_with_the_same_file_id(telegram_world):
    world = telegram_world
    accepted_on_telegram(world)
    # when
    world.receive(
        document_update(
            world.next_update_id(), user_id=CLIENT, file_id="DOC-1", file_name="invoice.pdf"
        )
    )
    world.settle()
    # then
    [relayed] = world.api.succeeded("sendDocument", chat_id=OPERATOR_USER)
    assert relayed.params["document"] == "DOC-1"
    assert relayed.params["caption"] == "Ann: 📎 invoice.pdf"


# --- blocking the bot ------------------------------------------------------------------------


def test_blocking_the_bot_marks_the_telegram_chat_blocked(telegram_world):
    world = telegram_world
    say(world, "hello")
    # when
    world.receive(
        blocked_update(world.next_update_id(), user_id=CLIENT, bot_id=world.bot.telegram_id)
    )
    world.settle()
    # then
    assert TelegramChat.objects.get(bot=world.bot, telegram_chat_id=CLIENT).blocked_at is not None
    assert TelegramUpdate.objects.filter(error="").count() == 2


def test_bot_messages_to_a_user_who_blocked_the_bot_are_skipped(telegram_world):
    world = telegram_world
    say(world, "hello")
    world.receive(
        blocked_update(world.next_update_id(), user_id=CLIENT, bot_id=world.bot.telegram_id)
    )
    world.settle()
    sent_before = len(world.api.calls("sendMessage", chat_id=CLIENT))
    # when the bot writes to them
    message_post(dialog=Dialog.objects.get(), author_kind=AuthorKind.BOT, text="Still there?")
    world.settle()
    # then
    row = OutboundMessage.objects.get(payload__text="Still there?")
    assert row.status == SendStatus.SKIPPED
    assert len(world.api.calls("sendMessage", chat_id=CLIENT)) == sent_before


def test_a_message_from_a_user_who_blocked_the_bot_unblocks(telegram_world):
    world = telegram_world
    say(world, "hello")
    world.receive(
        blocked_update(world.next_update_id(), user_id=CLIENT, bot_id=world.bot.telegram_id)
    )
    world.settle()
    delivery = ScriptFactory(chat=world.bot.chat, name="Delivery", keywords="delivery")
    StepFactory(script=delivery, text="We deliver in two days.")
    # when
    say(world, "delivery?")
    # then
    assert TelegramChat.objects.get(bot=world.bot, telegram_chat_id=CLIENT).blocked_at is None
    assert world.texts_to(CLIENT)[-1] == "We deliver in two days."


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["zzz", "r:abc", "f:99", "b:", "r:1:", "b:abc", ""])
def test_a_garbage_callback_changes_nothing(telegram_world, data):
    world = telegram_world
    say(world, "hello")
    before = (
        Message.objects.count(),
        OutboundMessage.objects.count(),
        Request.objects.count(),
        Feedback.objects.count(),
        FormProgress.objects.count(),
        Dialog.objects.count(),
    )
    # when
    press(world, data)
    # then
    after = (
        Message.objects.count(),
        OutboundMessage.objects.count(),
        Request.objects.count(),
        Feedback.objects.count(),
        FormProgress.objects.count(),
        Dialog.objects.count(),
    )
    assert after == before
    update = TelegramUpdate.objects.order_by("update_id").last()
    assert update.processed_at is not None
    assert update.error == ""
