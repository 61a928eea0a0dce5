"""customer_bind: one customer per normalised phone or e-mail, one binding per client;
bad details write nothing; racing binds (real row locks on PostgreSQL, IMMEDIATE
transactions on SQLite) still make one customer and one binding per client."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from distributor.models import Customer, CustomerBinding
from distributor.services import customer_bind
from tests.chats.factories import ClientFactory
from tests.distributor.factories import CustomerFactory
from tests.threads import run_in_threads

pytestmark = pytest.mark.django_db

RACERS = 8
ROUNDS = 50 if connection.vendor == "postgresql" else 10


def test_binding_a_client_makes_a_customer_and_binds_it():
    client = ClientFactory()

    customer = customer_bind(client=client, name=" Ann ", phone="+39 06 1234 5678")

    assert (customer.name, customer.phone, customer.email) == ("Ann", "+390612345678", None)
    binding = CustomerBinding.objects.get()
    assert (binding.client_id, binding.customer_id) == (client.pk, customer.pk)
    assert client.customer_binding.customer == customer


def test_binding_a_client_twice_keeps_one_binding_to_the_latest_customer():
    client = ClientFactory()
    first = customer_bind(client=client, email="ann@example.com")

    second = customer_bind(client=client, phone="+39 06 1234 5678")

    assert second.pk != first.pk
    assert list(CustomerBinding.objects.values_list("client_id", "customer_id")) == [
        (client.pk, second.pk)
    ]
    assert Customer.objects.count() == 2


def test_binding_with_the_same_details_again_changes_nothing():
    client = ClientFactory()
    first = customer_bind(client=client, name="Ann", email="ann@example.com")

    again = customer_bind(client=client, name="Ann", email=" ANN@example.com ")

    assert again.pk == first.pk
    assert CustomerBinding.objects.get().customer_id == first.pk
    assert Customer.objects.count() == 1


def test_two_clients_with_one_e_mail_are_one_customer_that_gains_the_missing_phone():
    widget, telegram = ClientFactory(), ClientFactory(messenger="telegram")
    known = customer_bind(client=widget, email="ann@example.com")

    found = customer_bind(
        client=telegram, name="Ann", phone="+390612345678", email="ann@example.com"
    )

    assert found.pk == known.pk
    found.refresh_from_db()
    assert (found.name, found.phone) == ("Ann", "+390612345678")
    assert sorted(found.bindings.values_list("client_id", flat=True)) == sorted(
        [widget.pk, telegram.pk]
    )


@pytest.mark.parametrize(
    "details",
    [
        {"name": "Ann"},
        {"name": "Ann", "phone": "  ", "email": " "},
        {"phone": "12-34"},
        {"email": "not an e-mail"},
        {"name": "x\ud800y", "email": "ann@example.com"},
    ],
)
def test_bad_details_are_refused_and_nothing_is_written(details):
    client = ClientFactory()

    with pytest.raises(ValidationError):
        customer_bind(client=client, **details)

    assert not Customer.objects.exists()
    assert not CustomerBinding.objects.exists()


def test_bad_details_leave_an_earlier_binding_as_it_was():
    client = ClientFactory()
    known = customer_bind(client=client, email="ann@example.com")

    with pytest.raises(ValidationError):
        customer_bind(client=client, phone="12-34")

    assert list(CustomerBinding.objects.values_list("client_id", "customer_id")) == [
        (client.pk, known.pk)
    ]


def test_a_customer_without_a_phone_or_an_e_mail_is_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(name="nobody")
    assert not Customer.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_binding_to_a_customer_that_does_not_exist_is_refused_by_the_database():
    client = ClientFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerBinding.objects.create(client=client, customer_id=999_999)
    assert not CustomerBinding.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_client_has_one_binding_and_losing_the_client_keeps_the_customer():
    client = ClientFactory()
    customer = CustomerFactory()
    CustomerBinding.objects.create(client=client, customer=customer)

    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerBinding.objects.create(client=client, customer=CustomerFactory())
    client.delete()

    assert not CustomerBinding.objects.exists()
    assert Customer.objects.filter(pk=customer.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_racing_binds_of_one_e_mail_make_one_customer_and_bind_every_client():
    for round_ in range(ROUNDS):
        clients = [ClientFactory() for _ in range(RACERS)]
        email = f"racer{round_}@example.com"

        errors = run_in_threads(
            RACERS,
            lambda index, clients=clients, email=email: customer_bind(
                client=clients[index], email=email
            ),
        )

        assert errors == []
        customer = Customer.objects.get(email=email)
        assert sorted(customer.bindings.values_list("client_id", flat=True)) == sorted(
            client.pk for client in clients
        )


@pytest.mark.django_db(transaction=True)
def test_racing_binds_of_one_client_leave_it_one_binding():
    for round_ in range(ROUNDS):
        client = ClientFactory()
        emails = [f"racer{round_}-{index}@example.com" for index in range(RACERS)]

        errors = run_in_threads(
            RACERS,
            lambda index, client=client, emails=emails: customer_bind(
                client=client, email=emails[index]
            ),
        )

        assert errors == []
        binding = CustomerBinding.objects.get(client=client)
        assert binding.customer.email in emails
        assert Customer.objects.filter(email__in=emails).count() == RACERS
