"""Issue 8's handoff domain rules: text validated on the way in, one rule for who may
open a request, forms answered once, errors naming the question, the true reason, the
operator's cap, the dialog's status and customers from the form."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from chats.enums import AuthorKind, DialogStatus, HeadsetMode, Messenger
from chats.models import Client, Dialog, Message, PageVisit
from chats.services import (
    DialogClosed,
    client_get_or_create,
    dialog_headset_reveal,
    dialog_receive_client_message,
    dialog_start_or_resume,
    page_visit_record,
)
from distributor.models import Customer, CustomerBinding
from distributor.services import auto_reply_defaults, customer_bind
from handoff.enums import CloseReason, Fallback, FormFieldKind, RequestStatus
from handoff.models import DialogFormAnswers, FormField, HandoffSettings, Request
from handoff.services import (
    FormInvalid,
    HandoffError,
    client_close,
    client_form_submit,
    contact_form_submit,
    form_answer_check,
    handoff_form_submit,
    operator_message_post,
    request_accept,
    request_close,
    request_expire,
    request_open,
)
from tests.chats.factories import DialogFactory, ScriptFactory, StepFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db

LONE = "a\ud800b"


@pytest.fixture
def dialog():
    return DialogFactory()


@pytest.fixture
def operator(dialog):
    return OperatorFactory(display_name="Olga", chats=[dialog.chat])


@pytest.fixture
def form(dialog):
    settings = HandoffSettings.objects.create(chat=dialog.chat)
    return {
        "name": FormField.objects.create(
            settings=settings, position=0, label="Your name", kind=FormFieldKind.NAME
        ),
        "email": FormField.objects.create(
            settings=settings, position=1, label="Your e-mail", kind=FormFieldKind.EMAIL
        ),
        "phone": FormField.objects.create(
            settings=settings,
            position=2,
            label="Your phone",
            kind=FormFieldKind.PHONE,
            required=False,
        ),
    }


def answers_of(form, **values):
    return {str(form[key].pk): value for key, value in values.items()}


def headset(dialog, mode):
    dialog.chat.headset_mode = mode
    dialog.chat.save()


def set_fallback(dialog, fallback):
    HandoffSettings.objects.update_or_create(chat=dialog.chat, defaults={"fallback": fallback})


def due(request):
    return Request.objects.get(pk=request.pk).accept_deadline + timedelta(seconds=1)


def message_count(dialog):
    return Message.objects.filter(dialog=dialog).count()


# --- 3. no stored text may break a surface: validated on the way in ----------------------


def test_a_client_message_with_a_lone_surrogate_is_refused_and_nothing_is_stored(dialog):
    before = message_count(dialog)
    with pytest.raises(ValidationError) as error:
        dialog_receive_client_message(dialog=dialog, text=LONE, client_msg_id="m1")
    assert error.value.code == "unencodable"
    assert message_count(dialog) == before
    dialog.refresh_from_db()
    assert dialog.client_message_count == 0


def test_an_operator_reply_with_a_lone_surrogate_is_refused(dialog, operator):
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    before = message_count(dialog)
    with pytest.raises(ValidationError):
        operator_message_post(request=request, operator=operator, text=LONE, client_msg_id="o1")
    assert message_count(dialog) == before


def test_an_attachment_with_a_lone_surrogate_is_refused(dialog):
    before = message_count(dialog)
    with pytest.raises(ValidationError):
        dialog_receive_client_message(
            dialog=dialog,
            text="a file",
            client_msg_id="m1",
            attachments=[{"kind": "document", "name": LONE}],
        )
    assert message_count(dialog) == before


def test_a_form_answer_with_a_lone_surrogate_is_refused_naming_the_question(dialog, form):
    request_open(dialog=dialog, reason="headset")
    with pytest.raises(FormInvalid) as error:
        handoff_form_submit(
            dialog=dialog, answers=answers_of(form, name=LONE, email="ann@example.com")
        )
    assert "Your name:" in str(error.value)
    assert DialogFormAnswers.objects.count() == 0
    assert Request.objects.count() == 0


def test_a_form_answer_with_a_nul_is_refused_naming_the_question(dialog, form):
    # PostgreSQL stores no NUL: it must be refused before it reaches the database
    request_open(dialog=dialog, reason="headset")
    with pytest.raises(FormInvalid) as error:
        handoff_form_submit(
            dialog=dialog, answers=answers_of(form, name="Ann\x00", email="ann@example.com")
        )
    assert "Your name:" in str(error.value)
    assert DialogFormAnswers.objects.count() == 0
    assert Request.objects.count() == 0


def test_a_single_form_answer_with_a_lone_surrogate_is_refused(dialog, form):
    with pytest.raises(FormInvalid):
        form_answer_check(dialog=dialog, field_id=form["name"].pk, raw=LONE)


def test_a_contact_answer_with_a_lone_surrogate_is_refused_and_no_customer_made(dialog):
    set_fallback(dialog, Fallback.FORM)
    request_expire(
        request=(request := request_open(dialog=dialog, reason="headset")), now=due(request)
    )
    with pytest.raises(FormInvalid):
        contact_form_submit(dialog=dialog, answers={"name": LONE, "phone": "+39 06 1234 5678"})
    assert Customer.objects.count() == 0


def test_customer_details_with_a_lone_surrogate_are_refused(dialog):
    with pytest.raises(ValidationError):
        customer_bind(client=dialog.client, name=LONE, email="ann@example.com")
    assert Customer.objects.count() == 0


def test_a_display_name_with_a_lone_surrogate_is_refused(dialog):
    with pytest.raises(ValidationError):
        client_get_or_create(
            chat=dialog.chat, messenger=Messenger.TELEGRAM, external_id="42", name=LONE
        )
    assert not Client.objects.filter(external_id="42").exists()


def test_a_page_title_or_address_with_a_lone_surrogate_is_refused(dialog):
    with pytest.raises(ValidationError):
        page_visit_record(dialog=dialog, url="https://example.com/", title=LONE)
    with pytest.raises(ValidationError):
        page_visit_record(dialog=dialog, url=f"https://example.com/{LONE}")
    assert PageVisit.objects.count() == 0


def test_an_operators_display_name_with_a_lone_surrogate_is_refused(dialog):
    from distributor.models import Operator
    from distributor.services import operator_create

    with pytest.raises(ValidationError):
        operator_create(username="olga", password="x" * 12, display_name=LONE, chats=[])
    assert not Operator.objects.exists()


# --- 5. one rule for every way into a request ---------------------------------------------


@pytest.mark.parametrize("reason", ["headset", "trigger", "command"])
def test_headset_never_refuses_every_visitor_path_and_stores_nothing(dialog, reason):
    headset(dialog, HeadsetMode.NEVER)
    before = message_count(dialog)
    with pytest.raises(HandoffError) as error:
        request_open(dialog=dialog, reason=reason)
    assert error.value.code == "handoff_unavailable"
    assert Request.objects.count() == 0
    assert message_count(dialog) == before


def test_an_empty_form_frame_opens_no_request_when_the_headset_is_hidden(dialog):
    headset(dialog, HeadsetMode.NEVER)
    with pytest.raises(HandoffError):
        client_form_submit(dialog=dialog, answers={})
    assert Request.objects.count() == 0


def test_a_form_nobody_offered_is_refused(dialog):
    with pytest.raises(HandoffError) as error:
        handoff_form_submit(dialog=dialog, answers={})
    assert error.value.code == "no_form"
    assert Request.objects.count() == 0


def test_the_trigger_mode_refuses_until_the_headset_is_revealed(dialog):
    headset(dialog, HeadsetMode.TRIGGER)
    with pytest.raises(HandoffError):
        request_open(dialog=dialog, reason="headset")
    dialog_headset_reveal(dialog=dialog)
    assert request_open(dialog=dialog, reason="headset").reason == "trigger"


def test_the_scripts_mark_opens_a_request_even_when_the_headset_is_hidden(dialog, form):
    # given: the admin put the connect-operator mark in a script of a "never" chat
    headset(dialog, HeadsetMode.NEVER)
    script = ScriptFactory(chat=dialog.chat)
    StepFactory(script=script, text="Let me find a person.", connect_operator=True)
    from chats.services import script_run

    script_run(dialog=dialog, script=script)
    # when: the visitor answers the form the mark offered
    handoff_form_submit(dialog=dialog, answers=answers_of(form, name="Ann", email="a@b.co"))
    # then
    assert Request.objects.get().reason == "script"


def test_a_contact_frame_without_an_offered_contact_form_is_refused(dialog):
    with pytest.raises(HandoffError) as error:
        contact_form_submit(dialog=dialog, answers={"phone": "+39 06 1234 5678"})
    assert error.value.code == "no_contact_form"
    assert Customer.objects.count() == 0
    assert not CustomerBinding.objects.filter(client=dialog.client).exists()


def test_a_contact_form_is_answered_once(dialog):
    set_fallback(dialog, Fallback.FORM)
    request = request_open(dialog=dialog, reason="headset")
    request_expire(request=request, now=due(request))
    contact_form_submit(dialog=dialog, answers={"phone": "+39 06 1234 5678"})
    with pytest.raises(HandoffError) as error:
        contact_form_submit(dialog=dialog, answers={"email": "other@example.com"})
    assert error.value.code == "no_contact_form"
    assert Customer.objects.count() == 1


# --- 15. the pre-handoff form is answered once; the answers are a message ------------------


def test_submitting_the_answered_form_again_is_refused(dialog, form):
    request_open(dialog=dialog, reason="headset")
    handoff_form_submit(dialog=dialog, answers=answers_of(form, name="Ann", email="a@b.co"))
    before = message_count(dialog)
    with pytest.raises(HandoffError) as error:
        handoff_form_submit(dialog=dialog, answers=answers_of(form, name="Bob", email="b@b.co"))
    assert error.value.code == "already_answered"
    assert Request.objects.count() == 1
    assert message_count(dialog) == before


def test_submitting_the_answered_form_after_the_request_closed_is_refused(dialog, form):
    request_open(dialog=dialog, reason="headset")
    handoff_form_submit(dialog=dialog, answers=answers_of(form, name="Ann", email="a@b.co"))
    request_close(request=Request.objects.get(), reason="client")
    with pytest.raises(HandoffError) as error:
        handoff_form_submit(dialog=dialog, answers=answers_of(form, name="Bob", email="b@b.co"))
    assert error.value.code == "already_answered"
    assert Request.objects.count() == 1


def test_the_answers_are_stored_as_the_clients_message_without_the_bot_answering(dialog, form):
    # given: a keyword script that would answer "name"
    answer_script = ScriptFactory(chat=dialog.chat, keywords="name")
    StepFactory(script=answer_script, text="You said name!")
    request_open(dialog=dialog, reason="headset")
    # when
    handoff_form_submit(
        dialog=dialog, answers=answers_of(form, name="Ann", email="Ann@Example.com", phone="")
    )
    # then
    message = Message.objects.get(dialog=dialog, author_kind=AuthorKind.CLIENT)
    assert message.text == "Your name: Ann\nYour e-mail: ann@example.com"
    assert message.attachments == [
        {
            "kind": "form_answers",
            "of": "handoff_form",
            "answers": [
                {"label": "Your name", "value": "Ann"},
                {"label": "Your e-mail", "value": "ann@example.com"},
            ],
        }
    ]
    assert not Message.objects.filter(dialog=dialog, text="You said name!").exists()
    # the request's notice comes after the answers
    last = Message.objects.filter(dialog=dialog).order_by("sequence").last()
    assert last.text == auto_reply_defaults("en")["reply_offline"]  # no manager online


def test_the_contact_answers_are_stored_as_the_clients_message(dialog):
    set_fallback(dialog, Fallback.FORM)
    request = request_open(dialog=dialog, reason="headset")
    request_expire(request=request, now=due(request))
    contact_form_submit(dialog=dialog, answers={"name": "Ann", "phone": "+39 06 1234 5678"})
    message = Message.objects.get(dialog=dialog, author_kind=AuthorKind.CLIENT)
    assert message.attachments[0]["of"] == "contact_form"
    assert message.attachments[0]["kind"] == "form_answers"
    assert {"label": "Phone", "value": "+390612345678"} in message.attachments[0]["answers"]
    assert "Name: Ann" in message.text


# --- 16. form errors name the question ------------------------------------------------------


def test_form_errors_name_the_question_not_its_number(dialog, form):
    request_open(dialog=dialog, reason="headset")
    with pytest.raises(HandoffError) as refusal:
        client_form_submit(
            dialog=dialog, answers=answers_of(form, name="Ann", email="not-an-email")
        )
    assert refusal.value.detail == "Your e-mail: Enter a valid e-mail address."
    assert str(form["email"].pk) not in refusal.value.detail


def test_a_single_answers_error_names_the_question(dialog, form):
    with pytest.raises(FormInvalid) as error:
        form_answer_check(dialog=dialog, field_id=form["email"].pk, raw="nope")
    assert str(error.value) == "Your e-mail: Enter a valid e-mail address."


# --- 17. the true reason on every path -------------------------------------------------------


def test_the_marks_reason_survives_the_form_step(dialog, form):
    script = ScriptFactory(chat=dialog.chat)
    StepFactory(script=script, text="Connecting", connect_operator=True)
    from chats.services import script_run

    script_run(dialog=dialog, script=script)
    assert Request.objects.count() == 0
    handoff_form_submit(dialog=dialog, answers=answers_of(form, name="Ann", email="a@b.co"))
    assert Request.objects.get().reason == "script"


@pytest.mark.parametrize(
    ("mode", "asked", "stored"),
    [
        (HeadsetMode.ALWAYS, "headset", "headset"),
        (HeadsetMode.TRIGGER, "headset", "trigger"),
        (HeadsetMode.ALWAYS, "command", "command"),
        (HeadsetMode.NEVER, "api", "api"),
        (HeadsetMode.NEVER, "script", "script"),
    ],
)
def test_each_paths_reason_is_stored_through_the_form(dialog, form, mode, asked, stored):
    headset(dialog, mode)
    if mode == HeadsetMode.TRIGGER:
        dialog_headset_reveal(dialog=dialog)
    assert request_open(dialog=dialog, reason=asked) is None
    handoff_form_submit(dialog=dialog, answers=answers_of(form, name="Ann", email="a@b.co"))
    assert Request.objects.get().reason == stored


def test_each_paths_reason_is_stored_without_a_form(dialog):
    assert request_open(dialog=dialog, reason="command").reason == "command"


# --- 18. the operator's cap ----------------------------------------------------------------------


def test_accepting_beyond_the_cap_is_refused_and_changes_nothing(dialog, operator):
    operator.max_simultaneous_dialogs = 1
    operator.save()
    first = request_open(dialog=dialog, reason="headset")
    request_accept(request=first, operator=operator)
    second = request_open(dialog=DialogFactory(client__chat=dialog.chat), reason="headset")
    with pytest.raises(HandoffError) as error:
        request_accept(request=second, operator=operator)
    assert error.value.code == "at_capacity"
    assert str(error.value) == "You already have 1 open conversation (your limit is 1)."
    second.refresh_from_db()
    assert (second.status, second.operator_id) == (RequestStatus.PENDING, None)
    assert second.dialog.status == DialogStatus.WAITING


def test_a_closed_conversation_frees_a_place(dialog, operator):
    operator.max_simultaneous_dialogs = 1
    operator.save()
    first = request_accept(request=request_open(dialog=dialog, reason="headset"), operator=operator)
    request_close(request=first, reason=CloseReason.OPERATOR, actor=operator)
    second = request_open(dialog=DialogFactory(client__chat=dialog.chat), reason="headset")
    assert request_accept(request=second, operator=operator).status == RequestStatus.ACCEPTED


# --- 19. the dialog's status follows the request; dialogs close --------------------------------


def status_of(dialog):
    return Dialog.objects.get(pk=dialog.pk).status


def test_the_dialog_status_follows_every_transition(dialog, operator):
    assert status_of(dialog) == DialogStatus.BOT
    request = request_open(dialog=dialog, reason="headset")
    assert status_of(dialog) == DialogStatus.WAITING
    request_accept(request=request, operator=operator)
    assert status_of(dialog) == DialogStatus.OPERATOR
    request_close(request=request, reason=CloseReason.OPERATOR, actor=operator)
    assert status_of(dialog) == DialogStatus.BOT


@pytest.mark.parametrize("fallback", [Fallback.FORM, Fallback.MESSAGE])
def test_an_expired_request_hands_the_dialog_back_to_the_bot(dialog, fallback):
    set_fallback(dialog, fallback)
    request = request_open(dialog=dialog, reason="headset")
    request_expire(request=request, now=due(request))
    assert status_of(dialog) == DialogStatus.BOT


def test_a_queued_request_keeps_the_dialog_waiting_until_it_gives_up(dialog):
    set_fallback(dialog, Fallback.QUEUE)
    request = request_open(dialog=dialog, reason="headset")
    queued = request_expire(request=request, now=due(request))
    assert status_of(dialog) == DialogStatus.WAITING
    request_expire(request=queued, now=queued.queue_deadline + timedelta(seconds=1))
    assert status_of(dialog) == DialogStatus.BOT


def test_a_form_being_asked_leaves_the_dialog_with_the_bot(dialog, form):
    request_open(dialog=dialog, reason="headset")
    assert status_of(dialog) == DialogStatus.BOT
    handoff_form_submit(dialog=dialog, answers=answers_of(form, name="Ann", email="a@b.co"))
    assert status_of(dialog) == DialogStatus.WAITING


def test_the_visitor_ending_a_waiting_request_hands_back_to_the_bot(dialog):
    request_open(dialog=dialog, reason="headset")
    client_close(dialog=dialog)
    assert status_of(dialog) == DialogStatus.BOT


def test_the_visitor_ending_the_chat_without_a_request_closes_the_dialog(dialog):
    client_close(dialog=dialog)
    closed = Dialog.objects.get(pk=dialog.pk)
    assert closed.status == DialogStatus.CLOSED
    assert closed.closed_at is not None
    assert Message.objects.filter(dialog=dialog).last().text == "The chat has ended."
    with pytest.raises(DialogClosed):
        dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="late")


def test_a_closed_dialogs_visitor_starts_a_new_dialog(dialog):
    client_close(dialog=dialog)
    again, created = dialog_start_or_resume(
        chat=dialog.chat, messenger=dialog.messenger, external_id=dialog.client.external_id
    )
    assert created
    assert again.pk != dialog.pk
    assert again.status == DialogStatus.BOT


def test_an_idle_dialog_closes_after_the_idle_hours(dialog, settings):
    from chats.services import dialogs_close_idle

    settings.BATON_DIALOG_IDLE_CLOSE_HOURS = 24
    dialog_receive_client_message(dialog=dialog, text="hello", client_msg_id="m1")
    last = Dialog.objects.get(pk=dialog.pk).last_message_at
    assert dialogs_close_idle(now=last + timedelta(hours=23)) == 0
    assert status_of(dialog) == DialogStatus.BOT
    assert dialogs_close_idle(now=last + timedelta(hours=25)) == 1
    assert status_of(dialog) == DialogStatus.CLOSED
    assert dialogs_close_idle(now=last + timedelta(hours=26)) == 0


def test_a_dialog_with_an_open_request_is_never_closed_as_idle(dialog, settings):
    from chats.services import dialogs_close_idle

    settings.BATON_DIALOG_IDLE_CLOSE_HOURS = 24
    set_fallback(dialog, Fallback.QUEUE)
    request_open(dialog=dialog, reason="headset")
    later = timezone.now() + timedelta(hours=48)
    assert dialogs_close_idle(now=later) == 0
    assert status_of(dialog) == DialogStatus.WAITING


def test_the_beats_task_closes_idle_dialogs(dialog, settings):
    from chats.tasks import close_idle_dialogs

    settings.BATON_DIALOG_IDLE_CLOSE_HOURS = 1
    dialog_receive_client_message(dialog=dialog, text="hello", client_msg_id="m1")
    Dialog.objects.filter(pk=dialog.pk).update(last_message_at=timezone.now() - timedelta(hours=2))
    assert close_idle_dialogs() == 1
    assert status_of(dialog) == DialogStatus.CLOSED


# --- 20. the form's name, e-mail and phone name the client and bind a customer ------------------


def test_the_forms_answers_name_the_client_and_bind_a_customer(dialog, form):
    request_open(dialog=dialog, reason="headset")
    handoff_form_submit(
        dialog=dialog,
        answers=answers_of(form, name="Ann Lee", email="Ann@Example.com", phone="+39 06 1234 5678"),
    )
    client = Client.objects.get(pk=dialog.client_id)
    assert client.name == "Ann Lee"
    customer = Customer.objects.get()
    assert (customer.name, customer.email, customer.phone) == (
        "Ann Lee",
        "ann@example.com",
        "+390612345678",
    )
    assert client.customer_binding.customer_id == customer.pk


def test_the_forms_answers_find_an_existing_customer(dialog, form):
    known = Customer.objects.create(name="Ann", email="ann@example.com")
    request_open(dialog=dialog, reason="headset")
    handoff_form_submit(
        dialog=dialog, answers=answers_of(form, name="Ann", email="ANN@example.com")
    )
    assert Customer.objects.count() == 1
    assert Client.objects.get(pk=dialog.client_id).customer_binding.customer_id == known.pk


def test_the_contact_form_is_prefilled_with_what_the_visitor_typed(dialog, form):
    set_fallback(dialog, Fallback.FORM)
    request_open(dialog=dialog, reason="headset")
    handoff_form_submit(
        dialog=dialog, answers=answers_of(form, name="Ann Lee", email="ann@example.com")
    )
    request_expire(request=(request := Request.objects.get()), now=due(request))
    offer = Message.objects.get(dialog=dialog, attachments__0__kind="contact_form")
    assert offer.attachments[0]["values"] == {
        "name": "Ann Lee",
        "phone": "",
        "email": "ann@example.com",
    }


def test_the_contact_form_is_empty_for_a_visitor_who_typed_nothing(dialog):
    set_fallback(dialog, Fallback.FORM)
    request = request_open(dialog=dialog, reason="headset")
    request_expire(request=request, now=due(request))
    offer = Message.objects.get(dialog=dialog, attachments__0__kind="contact_form")
    assert offer.attachments[0]["values"] == {"name": "", "phone": "", "email": ""}


def test_the_contact_form_names_the_client(dialog):
    set_fallback(dialog, Fallback.FORM)
    request = request_open(dialog=dialog, reason="headset")
    request_expire(request=request, now=due(request))
    contact_form_submit(dialog=dialog, answers={"name": "Ann", "email": "ann@example.com"})
    assert Client.objects.get(pk=dialog.client_id).name == "Ann"
