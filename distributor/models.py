from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chats.enums import Messenger
from chats.models import BotPart, BotPartQuerySet, chat_scripts_version_bump
from distributor.contacts import normalise_email, normalise_phone, phone_region_check
from distributor.enums import (
    ApiScope,
    DeliveryStatus,
    DistributionMode,
    Presence,
    RouteTarget,
)


class Operator(models.Model):
    """An operator's (manager's) profile: who they are to clients, which chats and
    channels they serve, how many dialogs they may hold at once, whether they take new
    ones now (presence)."""

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
    presence = models.CharField(
        _("presence"), max_length=10, choices=Presence.choices, default=Presence.OFFLINE
    )
    # a console's heartbeat (or Telegram's /online) pushes this forward; the sweep turns
    # a presence nobody renewed into offline (null: it does not expire)
    presence_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    presence_changed_at = models.DateTimeField(null=True, blank=True)
    # when they last were given a dialog or freed one: automatic distribution breaks
    # ties between equally loaded managers in favour of the longest idle
    idle_since = models.DateTimeField(default=timezone.now)
    # the requests they hold plus those offered to them, kept by the services that
    # change either (in the same transaction, as a delta: exact under concurrency) and
    # repaired by the sweep; automatic distribution orders by it instead of counting
    # everyone's requests per decision. Caps are never judged by it: they are counted
    # under the operator's lock (handoff.services.loads.operator_load).
    load_hint = models.IntegerField(default=0, editable=False)

    class Meta:
        ordering = ["display_name"]
        verbose_name = _("manager")
        verbose_name_plural = _("managers")
        indexes = [
            # the automatic offer: the online ones, least loaded, longest idle first
            models.Index(
                fields=["presence", "load_hint", "idle_since", "id"],
                name="operator_offer_order",
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs) -> None:
        """Saving a manager read earlier (the Admin's change form) never writes back
        the load hint it read: only relative updates and the sweep's repair, under the
        row's lock, change a stored one."""
        if (
            not self._state.adding
            and kwargs.get("update_fields") is None
            and not kwargs.get("force_insert")
            and not args
        ):
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "load_hint"
            ]
        super().save(*args, **kwargs)


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
            # a customer belongs to no chat, so no region: the number carries its code
            self.phone = normalise_phone(self.phone, None) if self.phone else None
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


class OperatorChannel(models.Model):
    """A channel an operator serves in one of their chats. An operator with no row for
    a chat serves every channel of it."""

    operator = models.ForeignKey(Operator, on_delete=models.CASCADE, related_name="channels")
    chat = models.ForeignKey("chats.Chat", on_delete=models.CASCADE, related_name="+")
    messenger = models.CharField(_("channel"), max_length=20, choices=Messenger.choices)

    class Meta:
        verbose_name = _("channel served")
        verbose_name_plural = _("channels served")
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "chat", "messenger"], name="operator_channel_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.operator} · {self.chat_id} · {self.messenger}"


class ChatDistributionQuerySet(BotPartQuerySet):
    """Deleting settings deletes their routing rules (a cascade, in SQL): the chats'
    cached routes must go with them."""


class ChatDistribution(models.Model):
    """How a chat's requests reach managers, and what the client is told meanwhile.
    All four auto-replies are required (SPEC "Distribution")."""

    chat = models.OneToOneField("chats.Chat", on_delete=models.CASCADE, related_name="distribution")
    mode = models.CharField(
        _("distribution"),
        max_length=10,
        choices=DistributionMode.choices,
        default=DistributionMode.BROADCAST,
    )
    offer_timeout_seconds = models.PositiveIntegerField(
        _("seconds a manager has to accept an offered dialog"),
        default=60,
        validators=[MinValueValidator(5)],
    )
    reply_received = models.CharField(_("auto-reply: dialog received"), max_length=500)
    reply_all_busy = models.CharField(_("auto-reply: all managers busy"), max_length=500)
    reply_offline = models.CharField(_("auto-reply: managers offline"), max_length=500)
    reply_outside_hours = models.CharField(
        _("auto-reply: outside working hours"),
        max_length=500,
        help_text=_("{hours} is replaced with the nearest working hours."),
    )
    bind_customers = models.BooleanField(
        _("bind clients to existing customers by phone or e-mail"), default=True
    )
    create_customers = models.BooleanField(
        _("create a customer when nothing matches"), default=True
    )
    phone_region = models.CharField(
        _("default phone region"),
        max_length=2,
        default="US",
        help_text=_(
            "Two letters (ISO 3166), e.g. RU: how numbers without a country code are read."
        ),
    )
    # changes on every save, so processes caching the settings read them again
    revision = models.UUIDField(default=uuid.uuid4, editable=False)

    objects = ChatDistributionQuerySet.as_manager()

    AUTO_REPLY_FIELDS = ("reply_received", "reply_all_busy", "reply_offline", "reply_outside_hours")

    class Meta:
        verbose_name = _("distribution settings")
        verbose_name_plural = _("distribution settings")

    def __str__(self) -> str:
        return f"distribution of {self.chat}"

    def save(self, *args, **kwargs) -> None:
        self.revision = uuid.uuid4()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "revision"}
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        """Its routing rules go with it (a cascade): the chat's cached routes too."""
        chat_id = self.chat_id
        with transaction.atomic():
            result = super().delete(*args, **kwargs)
            chat_scripts_version_bump({chat_id})
        return result

    def chat_id_for_version(self) -> int:
        return self.chat_id

    def clean(self) -> None:
        """Every auto-reply has text (blank or only spaces is empty), and the phone
        region is one the phone library knows."""
        names = {
            "reply_received": _("dialog received"),
            "reply_all_busy": _("all managers busy"),
            "reply_offline": _("managers offline"),
            "reply_outside_hours": _("outside working hours"),
        }
        errors: dict[str, list] = {}
        empty = []
        for field in self.AUTO_REPLY_FIELDS:
            text = getattr(self, field) or ""
            if not text.strip():
                setattr(self, field, "")
                empty.append(str(names[field]))
                errors[field] = [_("This auto-reply is required.")]
        if empty:
            errors[NON_FIELD_ERRORS] = [
                _("All four auto-replies are required; empty: %(names)s.")
                % {"names": ", ".join(empty)}
            ]
        try:
            self.phone_region = phone_region_check(self.phone_region)
        except ValueError as error:
            errors["phone_region"] = [str(error)]
        if errors:
            raise ValidationError(errors)


class RoutingRuleQuerySet(BotPartQuerySet):
    chat_path = "distribution__chat_id"


class RoutingRule(BotPart):
    """Where one channel of a chat goes: to managers (a chosen set; none chosen = every
    manager serving the chat and channel) or to a bot (the chat's own scripts, or an
    API bot). A channel without a rule goes to the chat's scripts, and its requests to
    every manager serving it."""

    distribution = models.ForeignKey(
        ChatDistribution, on_delete=models.CASCADE, related_name="routing_rules"
    )
    messenger = models.CharField(_("channel"), max_length=20, choices=Messenger.choices)
    target = models.CharField(
        _("route to"), max_length=10, choices=RouteTarget.choices, default=RouteTarget.BOT
    )
    managers = models.ManyToManyField(
        Operator, blank=True, related_name="routing_rules", verbose_name=_("managers")
    )
    api_bot = models.ForeignKey(
        "distributor.ApiBot",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="routing_rules",
        verbose_name=_("API bot"),
        help_text=_("Empty: the chat's own scripts answer."),
    )

    # processes keep a chat's routes under its scripts_version (distributor.selectors):
    # saving, deleting and bulk writes bump it (BotPart)
    objects = RoutingRuleQuerySet.as_manager()

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        constraints = [
            models.UniqueConstraint(
                fields=["distribution", "messenger"], name="one_rule_per_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.messenger} → {self.target}"

    def chat_id_for_version(self) -> int:
        return self.distribution.chat_id

    def clean(self) -> None:
        """An API bot only for a bot route, and only one that may work in this chat
        (active, its key not revoked and given this chat). The chosen managers are
        checked by the admin form (a many-to-many is not set before saving)."""
        if self.api_bot_id is None:
            return
        if self.target != RouteTarget.BOT:
            raise ValidationError(
                {"api_bot": _("Routing to managers names no bot: clear the API bot.")}
            )
        bot = self.api_bot
        if not bot.is_active or bot.api_key.revoked_at is not None:
            raise ValidationError({"api_bot": _("This API bot is switched off.")})
        try:
            chat_id = self.distribution.chat_id  # an unsaved one too (the admin's add page)
        except ChatDistribution.DoesNotExist:
            chat_id = None
        if chat_id is not None and not bot.api_key.chats.filter(pk=chat_id).exists():
            raise ValidationError(
                {"api_bot": _("This API bot's key is not given this chat; add the chat to it.")}
            )


class ApiKey(models.Model):
    """A key an integration authenticates with. The secret is shown once, when it is
    made; only its SHA-256 is stored (the secret is 32 random bytes, so a fast hash
    is as safe as a slow one and costs nothing per request)."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list, blank=True)
    chats = models.ManyToManyField(
        "chats.Chat", blank=True, related_name="api_keys", verbose_name=_("chats")
    )
    requests_per_minute = models.PositiveIntegerField(
        _("requests per minute"), default=600, validators=[MinValueValidator(1)]
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    SCOPES = ApiScope

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiBot(models.Model):
    """An external bot that takes the dialogs routed to it: they are pushed to its
    webhook, it answers through the API with its own key."""

    name = models.CharField(_("name"), max_length=100)
    api_key = models.OneToOneField(
        ApiKey, on_delete=models.CASCADE, related_name="bot", verbose_name=_("API key")
    )
    webhook_url = models.URLField(_("webhook"), max_length=1000)
    # signs every webhook body (HMAC-SHA256); the bot got it once, at registration
    signing_secret = models.CharField(max_length=64, editable=False)
    capacity = models.PositiveIntegerField(
        _("maximum simultaneous dialogs"), default=100, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("API bot")
        verbose_name_plural = _("API bots")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BotAssignment(models.Model):
    """A dialog an API bot holds: from routing until it hands off, closes, or the
    dialog ends. Counts against the bot's capacity while `released_at` is empty."""

    dialog = models.OneToOneField(
        "chats.Dialog", on_delete=models.CASCADE, related_name="bot_assignment"
    )
    bot = models.ForeignKey(ApiBot, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("dialog held by an API bot")
        verbose_name_plural = _("dialogs held by API bots")
        indexes = [
            models.Index(
                fields=["bot"], condition=Q(released_at__isnull=True), name="bot_assignment_held"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dialog_id} → {self.bot_id}"


class WebhookDelivery(models.Model):
    """One event for an API bot's webhook, retried with exponential backoff for a day,
    then dead (listed in Admin, replayable)."""

    bot = models.ForeignKey(ApiBot, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(_("event"), max_length=40)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.bot_id} ({self.status})"
