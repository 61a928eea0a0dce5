"""customer_bind follows the chat's distribution settings: binding on or off, creating
on or off, the chat's phone region for numbers typed without a country code."""

import pytest
from django.core.exceptions import ValidationError

from distributor.models import ChatDistribution, Customer, CustomerBinding
from distributor.services import chat_distribution_for, customer_bind
from tests.chats.factories import ChatFactory, ClientFactory
from tests.distributor.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def settings_of(client, **changes):
    settings = chat_distribution_for(client.chat)
    ChatDistribution.objects.filter(pk=settings.pk).update(**changes)


def test_a_number_typed_the_local_way_finds_the_customer_typed_the_international_way():
    chat = ChatFactory()
    widget = ClientFactory(chat=chat)
    telegram = ClientFactory(chat=chat, messenger="telegram")
    settings_of(widget, phone_region="RU")
    known = customer_bind(client=widget, phone="+7 912 000 11 22")

    found = customer_bind(client=telegram, phone="8 912 000-11-22")

    assert found.pk == known.pk
    assert found.phone == "+79120001122"
    assert Customer.objects.count() == 1
    assert CustomerBinding.objects.filter(customer=known).count() == 2


def test_the_region_is_the_chats_own():
    russian, italian = ClientFactory(), ClientFactory()
    settings_of(russian, phone_region="RU")
    settings_of(italian, phone_region="IT")

    in_russia = customer_bind(client=russian, phone="8 912 000-11-22")
    in_italy = customer_bind(client=italian, phone="06 1234 5678")

    assert (in_russia.phone, in_italy.phone) == ("+79120001122", "+390612345678")


def test_with_binding_off_nothing_is_bound_or_created():
    client = ClientFactory()
    known = CustomerFactory(email="ann@example.com")
    settings_of(client, bind_customers=False)

    result = customer_bind(client=client, name="Ann", email="ann@example.com")

    assert result is None
    assert not CustomerBinding.objects.exists()
    assert list(Customer.objects.values_list("pk", flat=True)) == [known.pk]


def test_with_binding_off_bad_details_are_still_refused():
    client = ClientFactory()
    settings_of(client, bind_customers=False)

    with pytest.raises(ValidationError) as error:
        customer_bind(client=client, phone="call me maybe")

    assert "7 to 15 digits" in " ".join(error.value.messages)


def test_with_creating_off_an_existing_customer_is_still_bound():
    client = ClientFactory()
    known = CustomerFactory(email="ann@example.com")
    settings_of(client, create_customers=False)

    result = customer_bind(client=client, email=" ANN@example.com")

    assert result.pk == known.pk
    assert CustomerBinding.objects.get().customer_id == known.pk


def test_with_creating_off_an_unknown_client_is_left_unbound():
    client = ClientFactory()
    settings_of(client, create_customers=False)

    result = customer_bind(client=client, name="Ann", phone="+39 06 1234 5678")

    assert result is None
    assert not Customer.objects.exists()
    assert not CustomerBinding.objects.exists()


def test_with_creating_off_an_earlier_binding_stays_when_nothing_matches():
    client = ClientFactory()
    known = customer_bind(client=client, email="ann@example.com")
    settings_of(client, create_customers=False)

    result = customer_bind(client=client, email="someone.else@example.com")

    assert result is None
    assert CustomerBinding.objects.get().customer_id == known.pk


def test_a_local_number_in_a_chat_of_another_region_is_refused_and_nothing_written():
    client = ClientFactory()
    settings_of(client, phone_region="US")

    with pytest.raises(ValidationError) as error:
        customer_bind(client=client, phone="8 912 000-11-22")

    assert "not a valid phone number" in error.value.message_dict["phone"][0]
    assert not Customer.objects.exists()
    assert not CustomerBinding.objects.exists()


def test_a_chat_without_settings_gets_them_and_binds_with_the_defaults():
    client = ClientFactory()

    customer = customer_bind(client=client, phone="+1 650 253 0000")

    assert customer.phone == "+16502530000"
    assert ChatDistribution.objects.get(chat=client.chat).phone_region == "US"


def test_a_filled_phone_that_is_another_customers_still_binds_to_the_e_mail_match():
    client = ClientFactory()
    by_email = CustomerFactory(email="ann@example.com", phone=None)
    CustomerFactory(email=None, phone="+390612345678")

    found = customer_bind(client=client, email="ann@example.com", phone="+39 06 1234 5678")

    # the older match is taken; the phone stays the other's (a person merges the two)
    assert found.pk == by_email.pk
    by_email.refresh_from_db()
    assert by_email.phone is None
    assert CustomerBinding.objects.get().customer_id == by_email.pk
    assert Customer.objects.count() == 2
