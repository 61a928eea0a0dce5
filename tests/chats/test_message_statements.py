"""What one message costs the database, held by counting statements. Inside a test
the outermost transaction shows as SAVEPOINT/RELEASE: they stand for BEGIN/COMMIT."""

import pytest

from chats.enums import AuthorKind, ScriptKind
from chats.models import Chat, Message, Script
from chats.services import dialog_receive_client_message, message_post
from tests.chats.factories import DialogFactory, ScriptFactory, StepFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dialog():
    """A dialog the bot has, in a chat with a keyword script and a fallback script; the
    client has written once, so this process has compiled the chat's bot."""
    dialog = DialogFactory()
    fallback = ScriptFactory(chat=dialog.chat, name="Fallback", kind=ScriptKind.FALLBACK)
    StepFactory(script=fallback, text="Sorry?")
    prices = ScriptFactory(chat=dialog.chat, name="Prices", keywords="price")
    StepFactory(script=prices, text="It is cheap")
    dialog_receive_client_message(dialog=dialog, text="hello", client_msg_id="warm")
    return dialog


def bot_texts(dialog):
    return list(
        Message.objects.filter(dialog=dialog, author_kind=AuthorKind.BOT)
        .order_by("sequence")
        .values_list("text", flat=True)
    )


def test_a_visitor_message_the_bot_answers_by_keyword_costs_six_statements(
    dialog, django_assert_num_queries
):
    # BEGIN, client's UPDATE...RETURNING + INSERT, bot's UPDATE...RETURNING + INSERT, COMMIT
    with django_assert_num_queries(6):
        result = dialog_receive_client_message(dialog=dialog, text="the price?", client_msg_id="c1")
    assert [answer.text for answer in result.answers] == ["It is cheap"]


def test_a_visitor_message_the_fallback_answers_costs_seven_statements(
    dialog, django_assert_num_queries
):
    # the keyword case plus the fallback counter's UPDATE
    with django_assert_num_queries(7):
        result = dialog_receive_client_message(dialog=dialog, text="what?", client_msg_id="c1")
    assert [answer.text for answer in result.answers] == ["Sorry?"]


def test_message_post_costs_two_statements(dialog, django_assert_num_queries):
    # inside the caller's transaction: one UPDATE...RETURNING, one INSERT
    with django_assert_num_queries(2):
        client, _created = message_post(
            dialog=dialog, author_kind=AuthorKind.CLIENT, text="hi", client_msg_id="c1"
        )
    with django_assert_num_queries(2):
        bot, _created = message_post(dialog=dialog, author_kind=AuthorKind.BOT, text="hello")
    assert (client.sequence, bot.sequence) == (dialog.last_sequence - 1, dialog.last_sequence)


def test_a_repeated_client_message_reads_the_stored_one_and_writes_nothing(
    dialog, django_assert_num_queries
):
    first = dialog_receive_client_message(dialog=dialog, text="the price?", client_msg_id="c1")
    stored = Message.objects.count()
    with django_assert_num_queries(4):  # BEGIN, refused UPDATE, SELECT stored, COMMIT
        again = dialog_receive_client_message(dialog=dialog, text="the price?", client_msg_id="c1")
    assert (again.created, again.message.pk, again.answers) == (False, first.message.pk, [])
    assert Message.objects.count() == stored


def test_an_edited_step_is_answered_at_once(dialog):
    # given the bot compiled with the old text
    step = Script.objects.get(chat=dialog.chat, name="Prices").steps.get()
    # when the step is edited
    step.text = "It is free"
    step.save()
    dialog_receive_client_message(dialog=dialog, text="price", client_msg_id="c1")
    # then the next answer has the new text
    assert bot_texts(dialog)[-1] == "It is free"


def test_scripts_deleted_in_bulk_stop_answering_at_once(dialog):
    Script.objects.filter(chat=dialog.chat, name="Prices").delete()
    dialog_receive_client_message(dialog=dialog, text="price", client_msg_id="c1")
    assert bot_texts(dialog)[-1] == "Sorry?"


def test_a_renamed_chat_signs_the_bots_next_message(dialog):
    chat = Chat.objects.get(pk=dialog.chat_id)
    chat.name = "Renamed"
    chat.save()
    result = dialog_receive_client_message(dialog=dialog, text="price", client_msg_id="c1")
    assert result.answers[0].author_name == "Renamed"


def test_a_chat_saved_from_an_old_copy_does_not_bring_back_an_old_bot(dialog):
    # given a copy of the chat read before a step changed
    old_copy = Chat.objects.get(pk=dialog.chat_id)
    step = Script.objects.get(chat=dialog.chat, name="Prices").steps.get()
    step.text = "It is free"
    step.save()
    # when the old copy is saved
    old_copy.save()
    # then the bot still answers with the step as it is now
    dialog_receive_client_message(dialog=dialog, text="price", client_msg_id="c1")
    assert bot_texts(dialog)[-1] == "It is free"
