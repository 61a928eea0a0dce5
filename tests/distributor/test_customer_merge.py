"""customer_merge: one person recorded twice becomes one customer."""

import pytest
from django.core.exceptions import ValidationError

from distributor.models import Customer, CustomerBinding
from distributor.services.customers import customer_merge
from tests.chats.factories import ClientFactory
from tests.distributor.factories import CustomerFactory

pytestmark = pytest.mark.django_db


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
