import pytest
from django.core.exceptions import ValidationError

from chats.normalise import normalise_text
from tests.chats.factories import ChatFactory, ScriptFactory, StepButtonFactory, StepFactory

pytestmark = pytest.mark.django_db


def test_keyword_normal_form_ignores_case_accents_and_punctuation():
    assert normalise_text("  Ça  COÛTE combien?! ") == "ca coute combien"


def test_chat_refuses_an_after_end_script_of_another_chat():
    chat = ChatFactory()
    chat.script_after_bot_end = ScriptFactory()
    with pytest.raises(ValidationError) as error:
        chat.full_clean()
    assert "script_after_bot_end" in error.value.message_dict


def test_a_button_leads_to_a_script_or_a_url_not_both_nor_neither():
    step = StepFactory()
    target = ScriptFactory(chat=step.script.chat)
    for button in (
        StepButtonFactory.build(step=step),
        StepButtonFactory.build(step=step, target_script=target, url="https://x.example"),
    ):
        with pytest.raises(ValidationError):
            button.full_clean()
    foreign = StepButtonFactory.build(step=step, target_script=ScriptFactory())
    with pytest.raises(ValidationError) as error:
        foreign.full_clean()
    assert "target_script" in error.value.message_dict


def test_a_chat_has_at_most_one_start_script():
    chat = ChatFactory()
    ScriptFactory(chat=chat, kind="start")
    with pytest.raises(ValidationError) as error:
        ScriptFactory.build(chat=chat, kind="start").full_clean()
    assert "already has a start script" in str(error.value)


def test_an_empty_step_is_refused():
    with pytest.raises(ValidationError):
        StepFactory.build(script=ScriptFactory(), text="  ").full_clean()
