"""customer_merge: one person recorded twice becomes one customer; racing merges and
binds (real row locks on PostgreSQL, IMMEDIATE transactions on SQLite) lose nothing."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from distributor.models import Customer, CustomerBinding
from distributor.services import customer_bind
from distributor.services.customers import customer_merge
from tests.chats.factories import ClientFactory
from tests.distributor.factories import CustomerFactory
from tests.threads import run_in_threads

pytestmark = pytest.mark.django_db

ROUNDS = 30 if connection.vendor == "postgresql" else 5


def bind(customer, **client):
    return CustomerBinding.objects.create(client=ClientFactory(**client), customer=customer)


def test_the_others_clients_move_and_its_missing_details_fill_the_survivor():
    survivor = CustomerFactory(name="", email="ann@example.com", phone=None)
    other = CustomerFactory(name="Ann Lee", email=None, phone="+390612345678")
    kept, moved = bind(survivor), bind(other, messenger="telegram")

    merged = customer_merge(survivor=survivor, other=other)

    assert (merged.name, merged.email, merged.phone) == (
        "Ann Lee",
        "ann@example.com",
        "+390612345678",
    )
    assert list(Customer.objects.values_list("pk", flat=True)) == [survivor.pk]
    assert sorted(CustomerBinding.objects.values_list("client_id", "customer_id")) == sorted(
        [(kept.client_id, survivor.pk), (moved.client_id, survivor.pk)]
    )


def test_different_phones_and_e_mails_are_merged_keeping_the_survivors():
    survivor = CustomerFactory(name="Ann", email="ann@example.com", phone="+390612345678")
    other = CustomerFactory(name="Anna", email="anna@example.com", phone="+79120001122")
    bind(other)

    merged = customer_merge(survivor=survivor, other=other)

    assert (merged.name, merged.email, merged.phone) == (
        "Ann",
        "ann@example.com",
        "+390612345678",
    )
    assert CustomerBinding.objects.get().customer_id == survivor.pk
    assert Customer.objects.count() == 1


def test_a_customer_is_not_merged_with_itself():
    customer = CustomerFactory()
    bind(customer)

    with pytest.raises(ValidationError, match="two different customers"):
        customer_merge(survivor=customer, other=Customer.objects.get(pk=customer.pk))

    assert Customer.objects.count() == 1
    assert CustomerBinding.objects.get().customer_id == customer.pk


def test_a_merge_with_a_customer_gone_meanwhile_changes_nothing():
    survivor, other = CustomerFactory(name=""), CustomerFactory(name="Ann")
    bind(survivor)
    Customer.objects.filter(pk=other.pk).delete()

    with pytest.raises(ValidationError, match="no longer exists"):
        customer_merge(survivor=survivor, other=other)

    survivor.refresh_from_db()
    assert survivor.name == ""
    assert CustomerBinding.objects.get().customer_id == survivor.pk


def test_an_unsaved_customer_is_refused():
    with pytest.raises(ValidationError):
        customer_merge(survivor=CustomerFactory(), other=Customer(email="x@example.com"))
    assert Customer.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_merges_of_one_pair_in_opposite_directions_leave_one_customer():
    for _round in range(ROUNDS):
        ann = CustomerFactory(name="", phone=None)
        anna = CustomerFactory(name="Anna", phone=None)
        clients = [bind(ann).client_id, bind(anna).client_id]
        pairs = [(ann, anna), (anna, ann)]

        errors = run_in_threads(
            2,
            lambda index, pairs=pairs: customer_merge(
                survivor=pairs[index][0], other=pairs[index][1]
            ),
        )

        # one merge wins; the other finds a customer gone and changes nothing
        assert [str(error.messages[0]) for error in errors] == [
            "One of these customers no longer exists."
        ]
        survivor = Customer.objects.get(pk__in=[ann.pk, anna.pk])
        assert survivor.name == "Anna"
        assert sorted(survivor.bindings.values_list("client_id", flat=True)) == sorted(clients)
        Customer.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_a_bind_racing_a_merge_ends_bound_to_a_customer_that_exists():
    for round_ in range(ROUNDS):
        email = f"racer{round_}@example.com"
        ann = CustomerFactory(email=email)
        anna = CustomerFactory(email=None, phone="+390612345678")
        client = ClientFactory()

        errors = run_in_threads(
            2,
            lambda index, ann=ann, anna=anna, client=client, email=email: (
                customer_merge(survivor=anna, other=ann)
                if index == 0
                else customer_bind(client=client, email=email)
            ),
        )

        assert errors == []
        survivor = Customer.objects.get(email=email)
        assert survivor.pk == anna.pk
        assert CustomerBinding.objects.get(client=client).customer_id == anna.pk
        Customer.objects.all().delete()
