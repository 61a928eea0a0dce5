from django.db import models
from django.utils.translation import gettext_lazy as _


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    QUEUED = "queued", _("queued")
    ACCEPTED = "accepted", _("accepted")
    EXPIRED = "expired", _("expired")
    CLOSED = "closed", _("closed")


class RequestReason(models.TextChoices):
    SCRIPT = "script", _("the script's connect-operator mark")
    HEADSET = "headset", _("the visitor tapped the headset")
