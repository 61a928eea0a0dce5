"""Merging two customers from the customer list: exactly two selected, a page to
choose which stays, then one customer with every client."""

import pytest

from distributor.models import Customer, CustomerBinding
from tests.chats.factories import ClientFactory
from tests.distributor.factories import CustomerFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/distributor/customer/"


def merge_post(admin_client, *customers, **extra):
    return admin_client.post(
        LIST,
        {
            "action": "merge_customers",
            "_selected_action": [str(customer.pk) for customer in customers],
            **extra,
        },
        follow=True,
    )


def test_selecting_two_asks_which_one_stays(admin_client):
    ann = CustomerFactory(name="Ann", email="ann@example.com")
    anna = CustomerFactory(name="Anna", phone="+390612345678", email=None)

    response = merge_post(admin_client, ann, anna)

    assert response.templates[0].name == "admin/distributor/customer/merge.html"
    content = response.content.decode()
    assert f'name="survivor" value="{ann.pk}"' in content
    assert f'name="survivor" value="{anna.pk}"' in content
    assert Customer.objects.count() == 2


def test_confirming_merges_into_the_chosen_customer(admin_client):
    ann = CustomerFactory(name="Ann", email="ann@example.com", phone=None)
    anna = CustomerFactory(name="Anna", phone="+390612345678", email=None)
    binding = CustomerBinding.objects.create(client=ClientFactory(), customer=ann)

    response = merge_post(admin_client, ann, anna, survivor=str(anna.pk))

    assert "Ann was merged into Anna." in response.content.decode()
    survivor = Customer.objects.get()
    assert (survivor.pk, survivor.name, survivor.phone, survivor.email) == (
        anna.pk,
        "Anna",
        "+390612345678",
        "ann@example.com",
    )
    assert CustomerBinding.objects.get(pk=binding.pk).customer_id == anna.pk


@pytest.mark.parametrize("count", [1, 3])
def test_merging_other_than_two_is_refused(admin_client, count):
    customers = [CustomerFactory() for _ in range(count)]

    response = merge_post(admin_client, *customers)

    assert f"Select exactly two customers to merge ({count} selected)." in (
        response.content.decode()
    )
    assert Customer.objects.count() == count


def test_a_survivor_that_is_not_one_of_the_two_is_refused(admin_client):
    ann, anna, third = CustomerFactory(), CustomerFactory(), CustomerFactory()

    response = merge_post(admin_client, ann, anna, survivor=str(third.pk))

    assert "Choose which of the two customers stays." in response.content.decode()
    assert Customer.objects.count() == 3


def test_the_same_customer_selected_twice_is_one_and_is_refused(admin_client):
    ann = CustomerFactory()

    response = merge_post(admin_client, ann, ann, survivor=str(ann.pk))

    assert "Select exactly two customers to merge (1 selected)." in response.content.decode()
    assert Customer.objects.get().pk == ann.pk


def test_the_customer_form_normalises_a_phone_with_its_country_code(admin_client):
    customer = CustomerFactory(email="ann@example.com")

    response = admin_client.post(
        f"/admin/distributor/customer/{customer.pk}/change/",
        {
            "name": "Ann",
            "phone": "+7 (912) 000-11-22",
            "email": "ann@example.com",
            "bindings-TOTAL_FORMS": "0",
            "bindings-INITIAL_FORMS": "0",
            "bindings-MIN_NUM_FORMS": "0",
            "bindings-MAX_NUM_FORMS": "0",
        },
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.phone == "+79120001122"


def test_the_customer_form_refuses_a_phone_without_a_country_code(admin_client):
    customer = CustomerFactory(email="ann@example.com")

    response = admin_client.post(
        f"/admin/distributor/customer/{customer.pk}/change/",
        {
            "name": "Ann",
            "phone": "8 912 000-11-22",
            "email": "ann@example.com",
            "bindings-TOTAL_FORMS": "0",
            "bindings-INITIAL_FORMS": "0",
            "bindings-MIN_NUM_FORMS": "0",
            "bindings-MAX_NUM_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "with the country code" in response.context["adminform"].form.errors["phone"][0]
    customer.refresh_from_db()
    assert customer.phone is None
