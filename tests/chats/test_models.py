import pytest
from django.core.exceptions import ValidationError

from chats.models import Customer
from chats.normalise import normalise_phone, normalise_text
from tests.chats.factories import ChatFactory, ScriptFactory, StepButtonFactory, StepFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("+7 (912) 000-11-22", "+79120001122"),
        ("0039 06 1234 5678", "+390612345678"),
        ("89120001122", "+89120001122"),
    ],
)
def test_phone_numbers_are_normalised(raw, normal):
    assert normalise_phone(raw) == normal


def test_a_phone_with_too_few_digits_is_refused():
    with pytest.raises(ValueError, match="7 to 15 digits"):
        normalise_phone("12-34")


def test_customer_is_unique_by_normalised_phone_and_email():
    first = Customer(phone="+7 912 000 11 22", email=" Ann@Example.COM ")
    first.full_clean()
    first.save()
    assert (first.phone, first.email) == ("+79120001122", "ann@example.com")
    duplicate = Customer(phone="8-912-000-11-22".replace("8-", "+7-", 1))
    with pytest.raises(ValidationError) as error:
        duplicate.full_clean()
    assert "phone" in error.value.message_dict


def test_customer_needs_a_phone_or_an_email():
    with pytest.raises(ValidationError):
        Customer(name="nobody").full_clean()


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
