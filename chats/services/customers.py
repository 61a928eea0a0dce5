"""Customers: what a client tells us about themselves."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from chats.models import Client, Customer
from chats.normalise import normalise_email, normalise_phone
from chats.validators import validate_encodable


def customer_bind(*, client: Client, name: str = "", phone: str = "", email: str = "") -> Customer:
    """Find the customer by normalised phone or e-mail (creating one when nothing
    matches) and bind the client to it. Raises ValidationError for bad details."""
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
        Client.objects.filter(pk=client.pk).update(customer=customer)
    client.customer = customer
    return customer
