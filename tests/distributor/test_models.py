import pytest
from django.core.exceptions import ValidationError

from distributor.models import Customer

pytestmark = pytest.mark.django_db


def test_customer_is_unique_by_normalised_phone_and_email():
    first = Customer(phone="+7 912 000 11 22", email=" Ann@Example.COM ")
    first.full_clean()
    first.save()
    assert (first.phone, first.email) == ("+79120001122", "ann@example.com")
    duplicate = Customer(phone="8-912-000-11-22".replace("8-", "+7-", 1))
    with pytest.raises(ValidationError) as error:
        duplicate.full_clean()
    assert "phone" in error.value.message_dict


def test_customer_needs_a_phone_or_an_email():
    with pytest.raises(ValidationError):
        Customer(name="nobody").full_clean()
