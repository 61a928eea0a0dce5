"""What a reviewer walking the running product found in the handoff services (issue 8):
rules checked against the chat's current settings, one form offer at a time, blank
answers left out, readable form errors, the named visitor's messages carry the name,
refusals in the chat's language."""

import pytest
from asgiref.sync import sync_to_async

from chats.enums import AuthorKind, HeadsetMode
from chats.models import Chat, Dialog, Message
from chats.services import dialog_receive_client_message
from chats.visitor_tokens import visitor_token_issue
from handoff.enums import FormFieldKind
from handoff.models import DialogFormAnswers, FormField, HandoffSettings, Request
from handoff.services import (
    FormInvalid,
    HandoffError,
    HandoffNotOffered,
    client_contact_submit,
    client_form_submit,
    handoff_form_submit,
    request_open,
    request_rate,
)
from tests.chats.factories import DialogFactory
from tests.chats.test_consumers import (
    chat,  # noqa: F401 - fixture
    hello,
    open_socket,
    receive_until,
)


def form_of(of_chat) -> dict[str, FormField]:
    settings, _created = HandoffSettings.objects.get_or_create(chat=of_chat)
    return {
        "name": FormField.objects.create(
            settings=settings, position=0, label="Your name", kind=FormFieldKind.NAME
        ),
        "email": FormField.objects.create(
            settings=settings, position=1, label="Your e-mail", kind=FormFieldKind.EMAIL
        ),
        "topic": FormField.objects.create(
            settings=settings,
            position=2,
            label="Topic",
            kind=FormFieldKind.TEXT,
            required=False,
        ),
    }


def answers_of(form, **values):
    return {str(form[key].pk): value for key, value in values.items()}


def offers(dialog) -> int:
    return Message.objects.filter(dialog=dialog, attachments__0__kind="handoff_form").count()


def admin_sets_headset(of_chat, mode) -> None:
    """The admin changes the chat in another process: nobody's copy is updated."""
    Chat.objects.filter(pk=of_chat.pk).update(headset_mode=mode)


@pytest.fixture
def dialog():
    return DialogFactory()


# --- A. every rule is checked against the chat's current settings -------------------------


@pytest.mark.django_db
def test_a_stale_dialog_cannot_open_a_request_after_the_headset_was_hidden(dialog):
    dialog.chat  # noqa: B018 - the caller holds the chat as it was at hello
    admin_sets_headset(dialog.chat, HeadsetMode.NEVER)
    assert dialog.chat.headset_mode == HeadsetMode.ALWAYS
    # when / then
    with pytest.raises(HandoffNotOffered):
        request_open(dialog=dialog, reason="headset")
    assert Request.objects.count() == 0
    assert offers(dialog) == 0


@pytest.mark.django_db
def test_a_stale_dialog_cannot_submit_the_form_after_the_headset_was_hidden(dialog):
    form = form_of(dialog.chat)
    assert request_open(dialog=dialog, reason="headset") is None  # the form is offered
    admin_sets_headset(dialog.chat, HeadsetMode.NEVER)
    assert dialog.chat.headset_mode == HeadsetMode.ALWAYS
    before = Message.objects.count()
    # when / then
    with pytest.raises(HandoffNotOffered):
        handoff_form_submit(
            dialog=dialog, answers=answers_of(form, name="Ann", email="ann@example.com")
        )
    assert Request.objects.count() == 0
    assert DialogFormAnswers.objects.count() == 0
    assert Message.objects.count() == before


@pytest.mark.django_db(transaction=True)
async def test_an_open_widget_socket_obeys_a_headset_hidden_after_hello(chat):  # noqa: F811
    form = await sync_to_async(form_of)(chat)
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)  # greeting
    await communicator.send_json_to({"type": "handoff"})
    await receive_until(
        communicator,
        lambda frame: (
            frame["type"] == "message"
            and frame["message"]["attachments"][:1] != []
            and frame["message"]["attachments"][0]["kind"] == "handoff_form"
        ),
    )
    await sync_to_async(admin_sets_headset)(chat, HeadsetMode.NEVER)
    before = await sync_to_async(Message.objects.count)()
    # when: the headset again, then the form already on screen
    await communicator.send_json_to({"type": "handoff"})
    refused_headset = await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to(
        {"type": "form", "answers": answers_of(form, name="Ann", email="ann@example.com")}
    )
    refused_form = await communicator.receive_json_from(timeout=5)
    # then
    assert (refused_headset["type"], refused_headset["code"]) == ("error", "handoff_unavailable")
    assert (refused_form["type"], refused_form["code"]) == ("error", "handoff_unavailable")
    assert await sync_to_async(Request.objects.count)() == 0
    assert await sync_to_async(DialogFormAnswers.objects.count)() == 0
    assert await sync_to_async(Message.objects.count)() == before
    await communicator.disconnect()


# --- B. one form offer while it is unanswered ----------------------------------------------


@pytest.mark.django_db
def test_repeated_headset_taps_offer_the_form_once(dialog):
    form = form_of(dialog.chat)
    # when
    results = [request_open(dialog=dialog, reason="headset") for _tap in range(3)]
    # then
    assert results == [None, None, None]
    assert offers(dialog) == 1
    assert Request.objects.count() == 0
    # the one offer is still the one answered
    request = handoff_form_submit(
        dialog=dialog, answers=answers_of(form, name="Ann", email="ann@example.com")
    )
    assert request is not None and request.reason == "headset"


# --- C. blank optional answers are left out ------------------------------------------------


@pytest.mark.django_db
def test_a_blank_optional_answer_is_left_out_of_the_answers(dialog):
    form = form_of(dialog.chat)
    request_open(dialog=dialog, reason="headset")
    # when
    request = handoff_form_submit(
        dialog=dialog, answers=answers_of(form, name="Ann", email="ann@example.com", topic="  ")
    )
    # then
    expected = [
        {"label": "Your name", "value": "Ann"},
        {"label": "Your e-mail", "value": "ann@example.com"},
    ]
    message = Message.objects.get(dialog=dialog, attachments__0__kind="form_answers")
    assert message.attachments[0]["answers"] == expected
    assert message.text == "Your name: Ann\nYour e-mail: ann@example.com"
    assert request.form_answers == expected
    assert DialogFormAnswers.objects.get(dialog=dialog).answers == expected


# --- D. form errors read naturally -------------------------------------------------------


@pytest.mark.django_db
def test_form_errors_are_one_question_per_line(dialog):
    form = form_of(dialog.chat)
    request_open(dialog=dialog, reason="headset")
    expected = (
        "Your name: This question needs an answer.\nYour e-mail: Enter a valid e-mail address."
    )
    # when
    with pytest.raises(FormInvalid) as error:
        handoff_form_submit(
            dialog=dialog, answers=answers_of(form, name="", email="not-an-address")
        )
    with pytest.raises(HandoffError) as refusal:
        client_form_submit(dialog=dialog, answers=answers_of(form, name="", email="not-an-address"))
    # then
    assert str(error.value) == expected
    assert (refusal.value.code, refusal.value.detail) == ("form_invalid", expected)
    assert DialogFormAnswers.objects.count() == 0
    assert Request.objects.count() == 0


# --- E. the named visitor's messages carry their name ---------------------------------------


@pytest.mark.django_db
def test_client_messages_after_the_form_named_the_visitor_carry_the_name(dialog):
    form = form_of(dialog.chat)
    dialog.client  # noqa: B018 - the caller holds the client as it was, nameless
    before = dialog_receive_client_message(dialog=dialog, text="hello", client_msg_id="m1")
    request_open(dialog=dialog, reason="headset")
    handoff_form_submit(
        dialog=dialog, answers=answers_of(form, name="Ann Lee", email="ann@example.com")
    )
    # when
    after = dialog_receive_client_message(dialog=dialog, text="are you there?", client_msg_id="m2")
    # then
    assert Message.objects.get(pk=after.message.pk).author_name == "Ann Lee"
    assert Message.objects.get(pk=before.message.pk).author_name == ""
    answers = Message.objects.get(dialog=dialog, attachments__0__kind="form_answers")
    assert answers.author_kind == AuthorKind.CLIENT
    assert answers.author_name == "Ann Lee"


# --- F. refusals in the chat's language ----------------------------------------------------


@pytest.mark.django_db
def test_refusals_to_the_visitor_are_in_the_chats_language(dialog):
    Chat.objects.filter(pk=dialog.chat_id).update(language="ru")
    dialog = Dialog.objects.select_related("chat").get(pk=dialog.pk)
    # when
    with pytest.raises(HandoffError) as no_form:
        client_form_submit(dialog=dialog, answers={})
    with pytest.raises(HandoffError) as no_contact:
        client_contact_submit(dialog=dialog, answers={})
    with pytest.raises(HandoffError) as unknown_rating:
        request_rate(dialog=dialog, request_id=12345, score=5)
    admin_sets_headset(dialog.chat, HeadsetMode.NEVER)
    with pytest.raises(HandoffError) as hidden:
        request_open(dialog=dialog, reason="headset")
    # then
    assert no_form.value.detail == "В этом чате форма не предлагалась."
    assert no_contact.value.detail == "Нет контактной формы, ожидающей ответа."
    assert unknown_rating.value.detail == "Здесь нет завершённого разговора, который можно оценить."
    assert hidden.value.detail == "Сейчас в этом чате нельзя связаться с человеком."


@pytest.mark.django_db(transaction=True)
async def test_the_widget_shows_the_refusal_in_the_chats_language(chat):  # noqa: F811
    chat.language = "ru"
    chat.headset_mode = HeadsetMode.NEVER
    await sync_to_async(chat.save)()
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)  # greeting
    # when
    await communicator.send_json_to({"type": "handoff"})
    error = await communicator.receive_json_from(timeout=5)
    # then
    assert (error["type"], error["code"], error["detail"]) == (
        "error",
        "handoff_unavailable",
        "Сейчас в этом чате нельзя связаться с человеком.",
    )
    assert await sync_to_async(Request.objects.count)() == 0
    await communicator.disconnect()
