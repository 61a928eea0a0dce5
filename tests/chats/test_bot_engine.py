import pytest
from django.core.exceptions import ValidationError

from chats.enums import AuthorKind, DialogStatus, ScriptKind
from chats.models import MarkerHit, Message
from chats.services import (
    UnknownButton,
    bot_button_press,
    dialog_receive_client_message,
    dialog_start_or_resume,
    script_matching,
)
from handoff.models import Request
from tests.chats.factories import ChatFactory, ScriptFactory, StepButtonFactory, StepFactory

pytestmark = pytest.mark.django_db


def bot_texts(dialog) -> list[str]:
    return list(
        Message.objects.filter(dialog=dialog, author_kind=AuthorKind.BOT)
        .order_by("sequence")
        .values_list("text", flat=True)
    )


@pytest.fixture
def chat():
    chat = ChatFactory()
    greeting = StepFactory(
        script=ScriptFactory(chat=chat, name="Greeting", kind=ScriptKind.START), text="Hello!"
    )
    StepFactory(
        script=ScriptFactory(chat=chat, name="Fallback", kind=ScriptKind.FALLBACK),
        text="I did not get that.",
    )
    prices = ScriptFactory(chat=chat, name="Prices", keywords="price\nhow much")
    StepFactory(script=prices, text="It costs 10.", marker="asked_price")
    cafe = ScriptFactory(chat=chat, name="Cafe", keywords="Café")
    StepFactory(script=cafe, text="Coffee time.")
    human = ScriptFactory(chat=chat, name="Human", keywords="operator")
    StepFactory(script=human, position=0, text="Calling someone.", connect_operator=True)
    StepFactory(script=human, position=1, text="never reached")
    StepButtonFactory(step=greeting, label="Prices", target_script=prices)
    StepButtonFactory(step=greeting, label="Docs", url="https://example.com/docs")
    return chat


def start(chat):
    dialog, _created = dialog_start_or_resume(chat=chat, messenger="web", external_id="v1")
    return dialog


def test_start_script_greets_a_new_dialog_with_its_buttons(chat):
    dialog = start(chat)
    greeting = Message.objects.get(dialog=dialog)
    assert greeting.text == "Hello!"
    assert [button["label"] for button in greeting.buttons] == ["Prices", "Docs"]
    assert greeting.buttons[1]["url"] == "https://example.com/docs"


def test_resuming_an_open_dialog_does_not_greet_again(chat):
    first = start(chat)
    again, created = dialog_start_or_resume(chat=chat, messenger="web", external_id="v1")
    assert (again.pk, created) == (first.pk, False)
    assert bot_texts(first) == ["Hello!"]


def test_keyword_trigger_ignores_case_and_accents_and_records_the_marker(chat):
    dialog = start(chat)
    dialog_receive_client_message(dialog=dialog, text="HOW MUCH is it?", client_msg_id="m1")
    dialog_receive_client_message(dialog=dialog, text="un cafe per favore", client_msg_id="m2")
    assert bot_texts(dialog) == ["Hello!", "It costs 10.", "Coffee time."]
    assert list(MarkerHit.objects.filter(dialog=dialog).values_list("marker", flat=True)) == [
        "asked_price"
    ]


def test_keyword_matches_whole_words_only(chat):
    assert script_matching(chat_id=chat.pk, text="priceless") is None
    assert script_matching(chat_id=chat.pk, text="the price?").name == "Prices"


def test_fallback_answers_what_matched_nothing(chat):
    dialog = start(chat)
    result = dialog_receive_client_message(dialog=dialog, text="blorp", client_msg_id="m1")
    assert [answer.text for answer in result.answers] == ["I did not get that."]
    assert bot_texts(dialog)[-1] == "I did not get that."


def test_first_message_gets_no_fallback_when_the_chat_does_not_reply_to_it(chat):
    chat.reply_to_first_message = False
    chat.save()
    dialog = start(chat)
    dialog_receive_client_message(dialog=dialog, text="blorp", client_msg_id="m1")
    assert bot_texts(dialog) == ["Hello!"]
    dialog_receive_client_message(dialog=dialog, text="blorp again", client_msg_id="m2")
    assert bot_texts(dialog) == ["Hello!", "I did not get that."]


def test_first_message_matching_a_trigger_is_answered_even_when_first_replies_are_off(chat):
    chat.reply_to_first_message = False
    chat.save()
    dialog = start(chat)
    dialog_receive_client_message(dialog=dialog, text="price", client_msg_id="m1")
    assert bot_texts(dialog)[-1] == "It costs 10."


def test_button_posts_its_label_as_the_client_and_runs_the_target_script(chat):
    dialog = start(chat)
    button_id = Message.objects.get(dialog=dialog).buttons[0]["id"]
    result = bot_button_press(dialog=dialog, button_id=button_id, client_msg_id="b1")
    assert (result.message.author_kind, result.message.text, result.created) == (
        "client",
        "Prices",
        True,
    )
    assert [answer.text for answer in result.answers] == ["It costs 10."]
    assert bot_texts(dialog)[-1] == "It costs 10."


def test_button_press_repeated_with_the_same_id_runs_once(chat):
    dialog = start(chat)
    button_id = Message.objects.get(dialog=dialog).buttons[0]["id"]
    bot_button_press(dialog=dialog, button_id=button_id, client_msg_id="b1")
    again = bot_button_press(dialog=dialog, button_id=button_id, client_msg_id="b1")
    assert (again.created, again.answers) == (False, [])
    assert bot_texts(dialog) == ["Hello!", "It costs 10."]


def test_button_of_another_chat_is_refused_and_nothing_is_written(chat):
    dialog = start(chat)
    foreign = StepButtonFactory(target_script=ScriptFactory())
    count = Message.objects.count()
    with pytest.raises(UnknownButton):
        bot_button_press(dialog=dialog, button_id=foreign.pk, client_msg_id="b1")
    assert Message.objects.count() == count


def test_connect_operator_mark_opens_a_request_and_ends_the_script(chat):
    dialog = start(chat)
    dialog_receive_client_message(dialog=dialog, text="operator please", client_msg_id="m1")
    dialog.refresh_from_db()
    assert dialog.status == DialogStatus.WAITING
    request = Request.objects.get(dialog=dialog)
    assert (request.status, request.reason) == ("pending", "script")
    assert "never reached" not in bot_texts(dialog)
    assert Message.objects.filter(dialog=dialog, author_kind=AuthorKind.SYSTEM).count() == 1


def test_bot_stays_silent_while_the_dialog_waits_for_an_operator(chat):
    dialog = start(chat)
    dialog_receive_client_message(dialog=dialog, text="operator", client_msg_id="m1")
    before = bot_texts(dialog)
    dialog_receive_client_message(dialog=dialog, text="price", client_msg_id="m2")
    assert bot_texts(dialog) == before


def test_empty_client_message_is_refused(chat):
    dialog = start(chat)
    with pytest.raises(ValidationError):
        dialog_receive_client_message(dialog=dialog, text="   ", client_msg_id="m1")
    assert Message.objects.filter(dialog=dialog, author_kind=AuthorKind.CLIENT).count() == 0
