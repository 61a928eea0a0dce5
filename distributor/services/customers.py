"""Customers: binding clients to the people they are, and merging two records of one
person."""

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
from distributor.services.distribution_settings import chat_distribution_for

MERGED_FIELDS = ("name", "phone", "email")


def customer_bind(
    *, client: Client, name: str = "", phone: str = "", email: str = ""
) -> Customer | None:
    """Bind the client to the customer with this normalised phone or e-mail, as the
    client's chat's distribution settings say: nothing when binding is off; a new
    customer when nothing matches only when creating is on (else nothing). A phone
    without a country code is read in the chat's phone region. Replaces the client's
    earlier binding (a client has one). Raises ValidationError for bad details, writing
    nothing, whatever the settings. Returns the customer bound, or None."""
    validate_encodable([name, phone, email])
    settings = chat_distribution_for(client.chat_id)
    try:
        phone_normal = normalise_phone(phone, settings.phone_region) if phone.strip() else None
    except ValueError as error:
        raise ValidationError({"phone": str(error)}) from None
    email_normal = normalise_email(email) if email.strip() else None
    if phone_normal is None and email_normal is None:
        raise ValidationError(_("Leave a phone number or an e-mail address."))
    candidate = Customer(name=name.strip()[:200], phone=phone_normal, email=email_normal)
    candidate.full_clean(validate_unique=False, validate_constraints=False)
    if not settings.bind_customers:
        return None
    matches = Q()
    if phone_normal:
        matches |= Q(phone=phone_normal)
    if email_normal:
        matches |= Q(email=email_normal)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(matches).order_by("pk").first()
        if customer is None:
            if not settings.create_customers:
                return None
            try:
                with transaction.atomic():
                    candidate.save()
            except IntegrityError:  # created at the same moment by someone else
                candidate = Customer.objects.filter(matches).order_by("pk").first()
            customer = candidate
        else:
            changed = []
            for field in MERGED_FIELDS:
                if not getattr(customer, field) and getattr(candidate, field):
                    setattr(customer, field, getattr(candidate, field))
                    changed.append(field)
            if changed:
                # the filled phone or e-mail may be another customer's: then both are
                # one person, which a person merges in Admin; this binding goes ahead
                try:
                    with transaction.atomic():
                        customer.save(update_fields=changed)
                except IntegrityError:
                    customer.refresh_from_db()
        # update_or_create locks the client's binding, and inserts in a savepoint that
        # falls back to the row a concurrent bind of the same client inserted first
        binding, _created = CustomerBinding.objects.update_or_create(
            client_id=client.pk, defaults={"customer": customer, "bound_at": timezone.now()}
        )
    client.customer_binding = binding
    return customer


def customer_merge(*, survivor: Customer, other: Customer) -> Customer:
    """One person recorded twice becomes one customer: `other`'s bindings move to
    `survivor`, survivor's empty name, phone and e-mail are filled from `other`, and
    `other` is deleted. Where both have a phone (or both an e-mail) the survivor's is
    kept. One transaction; both rows are locked (lower id first). Raises
    ValidationError when they are one customer or one of them no longer exists,
    changing nothing."""
    if survivor.pk is None or other.pk is None or survivor.pk == other.pk:
        raise ValidationError(_("Choose two different customers to merge."))
    with transaction.atomic():
        locked = {
            customer.pk: customer
            for customer in Customer.objects.select_for_update()
            .filter(pk__in=[survivor.pk, other.pk])
            .order_by("pk")
        }
        if len(locked) != 2:
            raise ValidationError(_("One of these customers no longer exists."))
        keep, gone = locked[survivor.pk], locked[other.pk]
        CustomerBinding.objects.filter(customer=gone).update(customer=keep)
        filled = [
            field for field in MERGED_FIELDS if not getattr(keep, field) and getattr(gone, field)
        ]
        values = {field: getattr(gone, field) for field in filled}
        # the other's phone or e-mail is unique: it leaves with the other row first
        gone.delete()
        if filled:
            for field, value in values.items():
                setattr(keep, field, value)
            keep.save(update_fields=filled)
    survivor.refresh_from_db()
    return survivor
