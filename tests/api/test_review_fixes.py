"""Regression tests of issue 11's review (the general API): binding a client by phone or
e-mail does not disclose another chat's customer; the API's message ids live apart
from the ids clients send."""

from __future__ import annotations

import pytest

from chats.enums import AuthorKind
from chats.models import Message
from chats.services import dialog_receive_client_message
from distributor.services import chat_distribution_for, customer_bind
from tests.chats.factories import ClientFactory

pytestmark = pytest.mark.django_db


def _binding_on(*chats):
    for chat in chats:
        settings = chat_distribution_for(chat)
        settings.bind_customers = settings.create_customers = True
        settings.save()


def test_binding_a_client_does_not_reveal_a_customer_known_only_in_another_chat(api, world):
    # given Zed is a customer known only in the other chat (another key's)
    _binding_on(world.chat, world.other_chat)
    zed = customer_bind(
        client=world.other_dialog.client,
        name="Zed Secret",
        email="zed@example.com",
        phone="+79120001122",
    )
    # when a key of the first chat "binds" one of its clients by a guessed e-mail
    mine = ClientFactory(chat=world.chat)
    response = api.post(
        "/api/v1/customers/", {"client": mine.pk, "email": "zed@example.com"}, format="json"
    )
    # then it does not learn the other chat's name and phone for that e-mail: only the
    # customer's id, what it sent, and its own client
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "Zed Secret" not in str(body) and "+79120001122" not in str(body), body
    assert body == {
        "id": zed.pk,
        "name": "",
        "phone": "",
        "email": "zed@example.com",
        "clients": [body["clients"][0]],
    }
    assert [client["id"] for client in body["clients"]] == [mine.pk]


def test_binding_to_a_customer_the_key_already_sees_shows_it_in_full(api, world):
    # given Ann is a customer bound to a client of the key's own chat
    _binding_on(world.chat)
    customer_bind(client=world.dialog.client, name="Ann Lee", email="ann@example.com")
    # when another client of the chat is bound by her e-mail
    mine = ClientFactory(chat=world.chat)
    response = api.post(
        "/api/v1/customers/", {"client": mine.pk, "email": "ann@example.com"}, format="json"
    )
    # then the answer is the whole customer, as before
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["email"]) == ("Ann Lee", "ann@example.com")
    assert "created_at" in body
    assert sorted(client["id"] for client in body["clients"]) == sorted(
        [world.dialog.client.pk, mine.pk]
    )


def test_a_client_cannot_pre_empt_the_apis_idempotent_message(api, world):
    # given the client sent a message whose id looks like the old "api<key>:<id>" form
    dialog = world.dialog
    dialog_receive_client_message(
        dialog=dialog, text="hi", client_msg_id=f"api{api.key.pk}:order-42"
    )
    # when the integration posts with client_message_id "order-42"
    response = api.post(
        f"/api/v1/dialogs/{dialog.session_id}/messages/",
        {"text": "Your order shipped.", "client_message_id": "order-42"},
        format="json",
    )
    # then its message is posted, not the client's returned
    assert response.status_code == 201, response.json()
    assert Message.objects.filter(
        dialog=dialog, author_kind=AuthorKind.BOT, text="Your order shipped."
    ).exists()
