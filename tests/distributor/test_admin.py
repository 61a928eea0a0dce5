"""The customer admin lists the clients bound to a customer; the client admin (chats'
page, extended here because chats cannot name customers) shows and edits the binding."""

import pytest

from distributor.models import CustomerBinding
from tests.chats.factories import ClientFactory
from tests.distributor.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def binding_form(client, customer_id):
    return {
        "name": client.name,
        "customer_binding-TOTAL_FORMS": "1",
        "customer_binding-INITIAL_FORMS": "0",
        "customer_binding-MIN_NUM_FORMS": "0",
        "customer_binding-MAX_NUM_FORMS": "1",
        "customer_binding-0-customer": str(customer_id),
        "customer_binding-0-client": str(client.pk),
    }


def test_the_client_list_shows_each_clients_customer(admin_client):
    bound = ClientFactory(name="Ann in the widget")
    CustomerBinding.objects.create(client=bound, customer=CustomerFactory(name="Ann Lee"))
    ClientFactory(name="A stranger")

    content = admin_client.get("/admin/chats/client/").content.decode()

    assert "Ann Lee" in content
    assert "A stranger" in content


def test_a_client_is_bound_to_a_customer_from_its_page(admin_client):
    client = ClientFactory(name="Ann")
    customer = CustomerFactory()

    response = admin_client.post(
        f"/admin/chats/client/{client.pk}/change/", binding_form(client, customer.pk)
    )

    assert response.status_code == 302
    assert CustomerBinding.objects.get(client=client).customer_id == customer.pk


def test_binding_a_client_to_a_customer_that_does_not_exist_is_refused(admin_client):
    client = ClientFactory(name="Ann")

    response = admin_client.post(
        f"/admin/chats/client/{client.pk}/change/", binding_form(client, 999_999)
    )

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.errors[0]["customer"]
    assert not CustomerBinding.objects.exists()
