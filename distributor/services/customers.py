"""Customers: binding clients to the people they are."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from chats.models import Client
from chats.validators import validate_encodable
from distributor.contacts import normalise_email, normalise_phone
from distributor.models import Customer, CustomerBinding


def customer_bind(*, client: Client, name: str = "", phone: str = "", email: str = "") -> Customer:
    """Find the customer by normalised phone or e-mail (creating one when nothing
    matches) and bind the client to it, replacing the client's earlier binding (a client
    has one). Raises ValidationError for bad details, writing nothing."""
    validate_encodable([name, phone, email])
    try:
        phone_normal = normalise_phone(phone) if phone.strip() else None
    except ValueError as error:
        raise ValidationError({"phone": str(error)}) from None
    email_normal = normalise_email(email) if email.strip() else None
    if phone_normal is None and email_normal is None:
        raise ValidationError(_("Leave a phone number or an e-mail address."))
    candidate = Customer(name=name.strip()[:200], phone=phone_normal, email=email_normal)
    candidate.full_clean(validate_unique=False, validate_constraints=False)
    matches = Q()
    if phone_normal:
        matches |= Q(phone=phone_normal)
    if email_normal:
        matches |= Q(email=email_normal)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(matches).first()
        if customer is None:
            try:
                with transaction.atomic():
                    candidate.save()
            except IntegrityError:  # created at the same moment by someone else
                candidate = Customer.objects.filter(matches).first()
            customer = candidate
        else:
            changed = []
            for field in ("name", "phone", "email"):
                if not getattr(customer, field) and getattr(candidate, field):
                    setattr(customer, field, getattr(candidate, field))
                    changed.append(field)
            if changed:
                customer.save(update_fields=changed)
        # update_or_create locks the client's binding, and inserts in a savepoint that
        # falls back to the row a concurrent bind of the same client inserted first
        binding, _created = CustomerBinding.objects.update_or_create(
            client_id=client.pk, defaults={"customer": customer, "bound_at": timezone.now()}
        )
    client.customer_binding = binding
    return customer
