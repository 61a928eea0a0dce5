"""distributor 0003 + chats 0008 move customers from chats to distribution: every
customer keeps its id and details, every client's customer becomes a binding, new
customers get fresh ids after the copied ones; going back restores chats' rows."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from distributor.models import Customer, CustomerBinding

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("chats", "0007_chat_scripts_version"), ("distributor", "0002_model_verbose_names")]
AFTER = [("chats", "0008_customers_moved_to_distributor")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def before_the_move():
    old = migrate(BEFORE)
    yield old
    latest()


def test_customers_keep_their_ids_and_every_client_link_becomes_a_binding(before_the_move):
    # given: chats' customers (ids with a gap) and clients, some bound, some not
    old = before_the_move
    chat = old.get_model("chats", "Chat").objects.create(name="Shop")
    old_customer = old.get_model("chats", "Customer")
    old_client = old.get_model("chats", "Client")
    long_ago = timezone.now() - timedelta(days=30)
    ann = old_customer.objects.create(id=7, name="Ann", email="ann@example.com")
    bob = old_customer.objects.create(id=42, phone="+390612345678", created_at=long_ago)
    old_customer.objects.create(id=43, name="Nobody's", email="alone@example.com")
    clients = {
        name: old_client.objects.create(
            chat=chat, messenger=messenger, external_id=name, customer=customer
        )
        for name, messenger, customer in (
            ("ann-web", "web", ann),
            ("ann-telegram", "telegram", ann),
            ("bob-web", "web", bob),
            ("stranger", "web", None),
        )
    }

    customers_before = list(
        old_customer.objects.order_by("pk").values_list(
            "pk", "name", "phone", "email", "created_at"
        )
    )
    assert [row[0] for row in customers_before] == [7, 42, 43]

    # when
    migrate(AFTER)

    # then: the same customers, with their ids and details
    assert (
        list(
            Customer.objects.order_by("pk").values_list(
                "pk", "name", "phone", "email", "created_at"
            )
        )
        == customers_before
    )
    # every bound client has its binding, the unbound none
    assert sorted(CustomerBinding.objects.values_list("client_id", "customer_id")) == sorted(
        [
            (clients["ann-web"].pk, 7),
            (clients["ann-telegram"].pk, 7),
            (clients["bob-web"].pk, 42),
        ]
    )
    # bound no earlier than both the client and the customer existed
    bob_binding = CustomerBinding.objects.get(client_id=clients["bob-web"].pk)
    assert bob_binding.bound_at == clients["bob-web"].created_at
    # the next customer's id comes after the copied ones
    assert Customer.objects.create(email="new@example.com").pk > 43


def test_going_back_restores_chats_customers_and_client_links(before_the_move):
    # given: customers and bindings made after the move
    old = before_the_move
    chat = old.get_model("chats", "Chat").objects.create(name="Shop")
    old_client = old.get_model("chats", "Client")
    bound = old_client.objects.create(chat=chat, messenger="web", external_id="bound")
    unbound = old_client.objects.create(chat=chat, messenger="web", external_id="unbound")
    migrate(AFTER)
    ann = Customer.objects.create(name="Ann", email="ann@example.com")
    CustomerBinding.objects.create(client_id=bound.pk, customer=ann)

    # when
    old = migrate(BEFORE)

    # then
    old_customer = old.get_model("chats", "Customer")
    assert list(old_customer.objects.values_list("pk", "name", "email")) == [
        (ann.pk, "Ann", "ann@example.com")
    ]
    links = dict(old.get_model("chats", "Client").objects.values_list("pk", "customer_id"))
    assert links == {bound.pk: ann.pk, unbound.pk: None}
    assert old_customer.objects.create(phone="+390612345678").pk > ann.pk
