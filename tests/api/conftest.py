"""Keys, chats and a client for the API's tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from distributor.enums import ApiScope
from distributor.services import api_key_create
from tests.chats.factories import ChatFactory, ClientFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

ALL_SCOPES = list(ApiScope.values)


@dataclass
class World:
    chat: object
    other_chat: object
    dialog: object
    other_dialog: object
    manager: object
    other_manager: object


@pytest.fixture
def world(db) -> World:
    chat = ChatFactory(name="Shop")
    other_chat = ChatFactory(name="Elsewhere")
    return World(
        chat=chat,
        other_chat=other_chat,
        dialog=DialogFactory(client=ClientFactory(chat=chat, name="Ann")),
        other_dialog=DialogFactory(client=ClientFactory(chat=other_chat, name="Zed")),
        manager=OperatorFactory(display_name="Olga", chats=[chat]),
        other_manager=OperatorFactory(display_name="Oscar", chats=[other_chat]),
    )


@pytest.fixture
def make_client(db):
    """make_client(scopes=..., chats=[...], requests_per_minute=...) -> an APIClient
    sending that new key; the key is on `client.key`."""

    def make(*, scopes=None, chats=(), requests_per_minute=10_000, name="CRM"):
        key, token = api_key_create(
            name=name,
            scopes=ALL_SCOPES if scopes is None else scopes,
            chats=list(chats),
            requests_per_minute=requests_per_minute,
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.key = key
        client.token = token
        return client

    return make


@pytest.fixture
def api(world, make_client):
    """A client with every scope on the world's first chat."""
    return make_client(chats=[world.chat])


@dataclass
class Objects:
    request: object
    other_request: object
    customer: object
    other_customer: object


@pytest.fixture
def objects(world) -> Objects:
    """A pending request and a bound customer in each of the world's chats."""
    from distributor.services import customer_bind
    from handoff.services import request_open

    return Objects(
        request=request_open(dialog=world.dialog, reason="api"),
        other_request=request_open(dialog=world.other_dialog, reason="api"),
        customer=customer_bind(client=world.dialog.client, name="Ann", email="ann@example.com"),
        other_customer=customer_bind(
            client=world.other_dialog.client, name="Zed", email="zed@example.com"
        ),
    )


def snapshot() -> tuple:
    """Everything an API call could write: compared before and after a refused call."""
    from chats.models import Client, Dialog, Message
    from distributor.models import ApiKey, Customer, CustomerBinding, Operator
    from handoff.models import Request, RequestEvent

    return (
        list(Message.objects.order_by("pk").values_list("pk", "text")),
        list(Request.objects.order_by("pk").values_list("pk", "status", "operator_id")),
        RequestEvent.objects.count(),
        list(Customer.objects.order_by("pk").values_list("pk", "name", "phone", "email")),
        list(CustomerBinding.objects.order_by("pk").values_list("pk", "customer_id")),
        list(Operator.objects.order_by("pk").values_list("pk", "presence")),
        list(Dialog.objects.order_by("pk").values_list("pk", "status")),
        Client.objects.count(),
        ApiKey.objects.filter(revoked_at__isnull=False).count(),
    )
