"""Canned replies (issue 13, point 2): per chat, managed in Admin, one per shortcut in a
chat, with {visitor_name}, {operator_name} and {chat_name}; the console gets only the
watched request's chat's replies."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from handoff.models import CannedReply
from handoff.selectors import canned_replies_for_operator
from handoff.services import request_open
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory
from tests.handoff.test_console_consumer import console_for, receive_until


def canned(chat, shortcut="thanks", text="Thank you, {visitor_name}!", title="Thanks"):
    return CannedReply.objects.create(chat=chat, shortcut=shortcut, title=title, text=text)


# --- the model ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_shortcut_is_unique_within_a_chat_and_nothing_is_saved_twice():
    chat = ChatFactory()
    canned(chat)

    duplicate = CannedReply(chat=chat, shortcut="thanks", title="Again", text="Again")
    with pytest.raises(ValidationError) as refused:
        duplicate.full_clean()

    assert "already exists" in str(refused.value)
    assert CannedReply.objects.filter(chat=chat).count() == 1


@pytest.mark.django_db
def test_the_same_shortcut_may_be_used_in_another_chat():
    canned(ChatFactory())
    other = CannedReply(chat=ChatFactory(), shortcut="thanks", title="Thanks", text="Hi")

    other.full_clean()
    other.save()

    assert CannedReply.objects.filter(shortcut="thanks").count() == 2


def test_the_variables_are_filled_in_once():
    reply = CannedReply(
        shortcut="hello",
        title="Hello",
        text="Hello {visitor_name}, {operator_name} of {chat_name} here. {visitor_name}?",
    )

    text = reply.render(visitor_name="Ann {chat_name}", operator_name="Olga", chat_name="Shop")

    assert text == "Hello Ann {chat_name}, Olga of Shop here. Ann {chat_name}?"


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["Hi {name}", "Hi {visitor_name} from {company}", "{}"])
def test_an_unknown_variable_is_refused_with_its_name(text):
    reply = CannedReply(chat=ChatFactory(), shortcut="hi", title="Hi", text=text)

    with pytest.raises(ValidationError) as refused:
        reply.full_clean()

    assert "Unknown variable" in str(refused.value.message_dict["text"])
    assert CannedReply.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("shortcut", ["two words", "/thanks", "", "x" * 41, "ä{}"])
def test_a_shortcut_that_is_not_a_slug_is_refused(shortcut):
    reply = CannedReply(chat=ChatFactory(), shortcut=shortcut, title="Hi", text="Hi")

    with pytest.raises(ValidationError) as refused:
        reply.full_clean()

    assert "shortcut" in refused.value.message_dict


# --- the selector -------------------------------------------------------------------


@pytest.mark.django_db
def test_an_operator_gets_the_replies_of_a_chat_they_serve_and_of_no_other():
    chat, other_chat = ChatFactory(), ChatFactory()
    olga = OperatorFactory(chats=[chat])
    canned(chat, "thanks")
    canned(chat, "bye", text="Bye!")
    canned(other_chat, "secret", text="Not for Olga")

    assert [r["shortcut"] for r in canned_replies_for_operator(operator=olga, chat_id=chat.pk)] == [
        "bye",
        "thanks",
    ]
    assert canned_replies_for_operator(operator=olga, chat_id=other_chat.pk) == []


# --- the admin ----------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_lists_searches_and_filters_canned_replies_by_chat(admin_client):
    chat, other_chat = ChatFactory(name="Shop"), ChatFactory(name="Bank")
    canned(chat, "thanks", title="Thanks a lot")
    canned(other_chat, "iban", title="Our IBAN")

    by_chat = admin_client.get(f"/admin/handoff/cannedreply/?chat__id__exact={chat.pk}")
    searched = admin_client.get("/admin/handoff/cannedreply/?q=iban")

    assert "Thanks a lot" in by_chat.content.decode()
    assert "Our IBAN" not in by_chat.content.decode()
    assert "Our IBAN" in searched.content.decode()
    assert "Thanks a lot" not in searched.content.decode()


@pytest.mark.django_db
def test_admin_refuses_a_second_reply_with_the_same_shortcut_in_a_chat(admin_client):
    chat = ChatFactory()
    canned(chat)

    response = admin_client.post(
        "/admin/handoff/cannedreply/add/",
        {"chat": chat.pk, "shortcut": "thanks", "title": "Again", "text": "Again"},
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert CannedReply.objects.count() == 1


@pytest.mark.django_db
def test_admin_adds_a_reply_with_variables(admin_client):
    chat = ChatFactory()

    response = admin_client.post(
        "/admin/handoff/cannedreply/add/",
        {"chat": chat.pk, "shortcut": "hello", "title": "Hello", "text": "Hi {visitor_name}"},
    )

    assert response.status_code == 302
    assert CannedReply.objects.get(chat=chat).text == "Hi {visitor_name}"


@pytest.mark.django_db
def test_staff_without_the_permission_cannot_see_canned_replies(client, django_user_model):
    staff = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(staff)

    response = client.get("/admin/handoff/cannedreply/")

    assert response.status_code == 403


# --- the console socket -------------------------------------------------------------


def make_world():
    chat, other_chat = ChatFactory(name="Shop"), ChatFactory(name="Bank")
    olga = OperatorFactory(display_name="Olga", chats=[chat, other_chat])
    request = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    canned(chat, "thanks", text="Thanks, {visitor_name}")
    canned(other_chat, "iban", text="Our IBAN is …")
    return {"olga": olga, "request": request}


@pytest.mark.django_db(transaction=True)
async def test_watching_sends_only_the_watched_requests_chats_canned_replies():
    world = await sync_to_async(make_world)()
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)

    # when
    await console.send_json_to({"type": "watch", "request": world["request"].pk})
    frames = await receive_until(console, lambda frame: frame["type"] == "canned_replies")

    # then: the frame follows "watching", names the request, and has Shop's reply only
    assert [frame["type"] for frame in frames][-2:] == ["watching", "canned_replies"]
    assert frames[-1] == {
        "type": "canned_replies",
        "request": world["request"].pk,
        "replies": [{"shortcut": "thanks", "title": "Thanks", "text": "Thanks, {visitor_name}"}],
    }
    await console.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_refused_watch_sends_no_canned_replies():
    world = await sync_to_async(make_world)()
    stranger = await sync_to_async(OperatorFactory)(chats=[])
    console, _connected, _code = await console_for(stranger.user)
    await console.receive_json_from(timeout=5)

    # when: an operator of neither chat asks to watch the request
    await console.send_json_to({"type": "watch", "request": world["request"].pk})
    frames = await receive_until(console, lambda frame: frame["type"] == "error")

    # then
    assert frames[-1]["code"] == "not_found"
    assert all(frame["type"] != "canned_replies" for frame in frames)
    await console.disconnect()
