from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from distributor.contacts import normalise_email, normalise_phone


class Operator(models.Model):
    """An operator's profile: who they are to clients, which chats they serve and how
    many dialogs they may hold at once. Presence and routing come with distribution."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator"
    )
    display_name = models.CharField(_("name shown to clients"), max_length=100)
    chats = models.ManyToManyField(
        "chats.Chat", related_name="operators", blank=True, verbose_name=_("chats served")
    )
    max_simultaneous_dialogs = models.PositiveSmallIntegerField(
        _("maximum simultaneous dialogs"), default=5, validators=[MinValueValidator(1)]
    )

    class Meta:
        ordering = ["display_name"]
        verbose_name = _("manager")
        verbose_name_plural = _("managers")

    def __str__(self) -> str:
        return self.display_name


class Customer(models.Model):
    """A known person, matched across clients by normalised phone or e-mail."""

    name = models.CharField(_("name"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=20, null=True, blank=True, unique=True)
    email = models.EmailField(_("e-mail"), null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.CheckConstraint(
                condition=Q(phone__isnull=False) | Q(email__isnull=False),
                name="customer_has_phone_or_email",
                violation_error_message=_("A customer needs a phone or an e-mail."),
            )
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"customer {self.pk}"

    def clean_fields(self, exclude=None) -> None:
        """Normalise contact details before they are validated and compared."""
        errors = {}
        try:
            self.phone = normalise_phone(self.phone) if self.phone else None
        except ValueError as error:
            errors["phone"] = [str(error)]
        self.email = normalise_email(self.email) if self.email else None
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)


class CustomerBinding(models.Model):
    """Which customer a client (one identity in one chat and channel) is: made when the
    client leaves a phone or an e-mail. A client has at most one; a customer has one per
    chat and channel they wrote from."""

    client = models.OneToOneField(
        "chats.Client",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="customer_binding",
        verbose_name=_("client"),
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="bindings", verbose_name=_("customer")
    )
    bound_at = models.DateTimeField(_("bound at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("customer binding")
        verbose_name_plural = _("customer bindings")

    def __str__(self) -> str:
        return f"{self.client} → {self.customer}"
