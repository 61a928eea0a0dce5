"""Customers (bound to a client of the key's chats), managers (presence and load) and
the reference data (the key's chats and their channels)."""

from __future__ import annotations

import pytest

from chats.models import MessengerLink
from distributor.enums import Presence
from distributor.models import Customer, CustomerBinding
from handoff.services import request_accept
from tests.api.conftest import snapshot
from tests.chats.factories import ClientFactory
from tests.distributor.factories import CustomerFactory

pytestmark = pytest.mark.django_db


# --- customers ----------------------------------------------------------------------


def test_customers_are_those_bound_to_the_keys_chats_clients(api, world, objects):
    CustomerFactory(name="Unbound")

    listed = api.get("/api/v1/customers/").json()["results"]

    assert [c["name"] for c in listed] == ["Ann"]
    assert listed[0]["clients"][0]["id"] == world.dialog.client_id


def test_a_customer_of_two_chats_shows_only_the_keys_clients(api, world, objects):
    CustomerBinding.objects.filter(client=world.other_dialog.client).update(
        customer=objects.customer
    )

    body = api.get(f"/api/v1/customers/{objects.customer.pk}/").json()

    assert [c["id"] for c in body["clients"]] == [world.dialog.client_id]


def test_filter_by_phone_and_email(api, world, objects):
    found = api.get("/api/v1/customers/?email=ANN@example.com").json()["results"]
    none = api.get("/api/v1/customers/?phone=%2B79120001122").json()["results"]

    assert [c["id"] for c in found] == [objects.customer.pk]
    assert none == []
    assert api.get("/api/v1/customers/?phone=%00").status_code == 400


def test_create_binds_the_client_and_matches_an_existing_customer(api, world, objects):
    another = ClientFactory(chat=world.chat)

    response = api.post(
        "/api/v1/customers/",
        {"client": another.pk, "email": "Ann@Example.com", "name": "Ann B."},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["id"] == objects.customer.pk
    assert sorted(c["id"] for c in response.json()["clients"]) == sorted(
        [world.dialog.client_id, another.pk]
    )
    assert Customer.objects.count() == 2


def test_create_makes_a_customer_when_nothing_matches(api, world):
    response = api.post(
        "/api/v1/customers/",
        {"client": world.dialog.client_id, "phone": "+7 912 000-11-22", "name": "Ann"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["phone"] == "+79120001122"
    assert CustomerBinding.objects.get(client=world.dialog.client).customer.name == "Ann"


def test_update_changes_the_details(api, world, objects):
    response = api.patch(
        f"/api/v1/customers/{objects.customer.pk}/",
        {"name": "Ann Smith", "phone": "+39 06 1234 5678"},
        format="json",
    )

    assert response.status_code == 200
    objects.customer.refresh_from_db()
    assert (objects.customer.name, objects.customer.phone, objects.customer.email) == (
        "Ann Smith",
        "+390612345678",
        "ann@example.com",
    )


def test_update_to_another_customers_email_is_400_and_changes_nothing(api, world, objects):
    before = snapshot()

    response = api.patch(
        f"/api/v1/customers/{objects.customer.pk}/", {"email": "zed@example.com"}, format="json"
    )

    assert response.status_code == 400
    assert "email" in response.json()["errors"]
    assert snapshot() == before


def test_bind_a_client_to_a_customer(api, world, objects):
    another = ClientFactory(chat=world.chat)

    response = api.post(
        f"/api/v1/customers/{objects.customer.pk}/clients/", {"client": another.pk}, format="json"
    )

    assert response.status_code == 200
    assert CustomerBinding.objects.get(client=another).customer == objects.customer


# --- managers -----------------------------------------------------------------------


def test_managers_with_presence_and_load(api, world, objects):
    request_accept(request=objects.request, operator=world.manager)

    body = api.get(f"/api/v1/managers/{world.manager.pk}/").json()

    assert body["display_name"] == "Olga"
    assert body["presence"] == "offline"
    assert body["load"] == {"accepted": 1, "offered": 0, "capacity": 5, "ratio": 0.2}
    assert body["chats"] == [world.chat.pk]


def test_set_presence(api, world):
    response = api.patch(
        f"/api/v1/managers/{world.manager.pk}/", {"presence": "online"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["presence"] == "online"
    world.manager.refresh_from_db()
    assert world.manager.presence == Presence.ONLINE
    # set through the API it does not expire (like Telegram's /online)
    assert world.manager.presence_expires_at is None


def test_put_and_delete_are_not_allowed(api, world, objects):
    before = snapshot()
    assert api.put(f"/api/v1/managers/{world.manager.pk}/", {}, format="json").status_code == 405
    assert api.delete(f"/api/v1/customers/{objects.customer.pk}/").status_code == 405
    assert snapshot() == before


# --- reference data -----------------------------------------------------------------


def test_chats_with_their_channels(make_client, world):
    MessengerLink.objects.create(
        chat=world.chat, messenger="whatsapp", url="https://wa.me/1", position=0
    )
    client = make_client(chats=[world.chat, world.other_chat])

    listed = client.get("/api/v1/chats/").json()["results"]

    assert [(c["name"], c["channels"]) for c in listed] == [
        ("Shop", ["web", "whatsapp"]),
        ("Elsewhere", ["web"]),
    ]
    one = client.get(f"/api/v1/chats/{world.chat.pk}/").json()
    assert one == {
        "id": world.chat.pk,
        "name": "Shop",
        "language": "en",
        "channels": ["web", "whatsapp"],
    }


def test_a_request_offered_to_a_manager_shows_in_their_load(api, world, objects):
    from handoff.models import Request

    Request.objects.filter(pk=objects.request.pk).update(offered_to=world.manager)
    request_accept(request=objects.other_request, operator=world.other_manager)

    listed = api.get("/api/v1/managers/").json()["results"]

    assert [m["load"] for m in listed] == [
        {"accepted": 0, "offered": 1, "capacity": 5, "ratio": 0.0}
    ]
