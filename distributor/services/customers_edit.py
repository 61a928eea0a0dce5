"""Customers edited by an integration (the API): their details, and which clients are
them. Matching by phone or e-mail (customer_bind) lives in customers.py."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chats.models import Client
from chats.validators import validate_encodable
from distributor.models import Customer, CustomerBinding


def customer_update(
    *,
    customer: Customer,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> Customer:
    """Change the given details (None: keep; "" clears a phone or an e-mail). Phone and
    e-mail are normalised; one another customer has, or clearing both, raises
    ValidationError and nothing is written."""
    validate_encodable([name, phone, email])
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if name is not None:
            locked.name = name.strip()[:200]
        if phone is not None:
            locked.phone = phone.strip() or None
        if email is not None:
            locked.email = email.strip() or None
        locked.full_clean()
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:  # the same details saved by someone else meanwhile
            raise ValidationError(_("Another customer has this phone or e-mail.")) from None
    return locked


def customer_client_bind(*, customer: Customer, client: Client) -> CustomerBinding:
    """Bind the client to this customer (replacing the client's earlier binding)."""
    with transaction.atomic():
        binding, _created = CustomerBinding.objects.update_or_create(
            client_id=client.pk, defaults={"customer": customer, "bound_at": timezone.now()}
        )
    client.customer_binding = binding
    return binding
