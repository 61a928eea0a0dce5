from django.db import models
from django.utils.translation import gettext_lazy as _


class Presence(models.TextChoices):
    """Whether a manager takes new dialogs. Only ONLINE managers are offered requests;
    AWAY keeps the dialogs they hold but takes no new ones."""

    ONLINE = "online", _("online")
    AWAY = "away", _("away")
    OFFLINE = "offline", _("offline")


class DistributionMode(models.TextChoices):
    BROADCAST = "broadcast", _("broadcast: alert every eligible manager, the first accept wins")
    AUTOMATIC = "automatic", _("automatic: offer to the least-loaded online manager")


class RouteTarget(models.TextChoices):
    BOT = "bot", _("bot")
    MANAGERS = "managers", _("managers")


class ApiScope(models.TextChoices):
    """What an API key may do: a part of the API, read or write (write implies read)."""

    DIALOGS_READ = "dialogs:read", _("dialogs: read")
    DIALOGS_WRITE = "dialogs:write", _("dialogs: write")
    CUSTOMERS_READ = "customers:read", _("customers: read")
    CUSTOMERS_WRITE = "customers:write", _("customers: write")
    MANAGERS_READ = "managers:read", _("managers: read")
    MANAGERS_WRITE = "managers:write", _("managers: write")
    REFERENCE_READ = "reference:read", _("reference data: read")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    DELIVERED = "delivered", _("delivered")
    DEAD = "dead", _("dead (gave up)")
