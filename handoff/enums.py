from django.db import models
from django.utils.translation import gettext_lazy as _


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    QUEUED = "queued", _("queued")
    ACCEPTED = "accepted", _("accepted")
    EXPIRED = "expired", _("expired")
    CLOSED = "closed", _("closed")


class RequestReason(models.TextChoices):
    """Why a request was opened; reports split by it. Only SCRIPT and API may open a
    request in a chat whose headset is hidden (handoff_refusal)."""

    SCRIPT = "script", _("the script's connect-operator mark")
    HEADSET = "headset", _("the visitor tapped the headset")
    TRIGGER = "trigger", _("the visitor accepted the trigger's offer of a person")
    COMMAND = "command", _("the client typed /human")
    API = "api", _("an integration asked")
    ROUTING = "routing", _("the channel is routed to managers")
    BOT_HANDOFF = "bot_handoff", _("an API bot handed the dialog to a person")


class Fallback(models.TextChoices):
    """What happens when nobody accepts a request in time."""

    QUEUE = "queue", _("queue: the visitor waits and sees their position")
    FORM = "form", _("form: the visitor leaves contact details")
    MESSAGE = "message", _("message: the visitor is told nobody is available")


class CloseReason(models.TextChoices):
    CLIENT = "client", _("closed by the client")
    OPERATOR = "operator", _("closed by the operator")
    CLIENT_TIMEOUT = "client_timeout", _("no reply in time")
    OPERATOR_IDLE = "operator_idle", _("operator idle")
    QUEUE_TIMEOUT = "queue_timeout", _("waited in the queue too long")
    LEAD_FORM = "lead_form", _("nobody accepted: contact form")
    UNAVAILABLE = "unavailable", _("nobody accepted: unavailable notice")
    TRANSFERRED_TO_BOT = "to_bot", _("the operator handed the dialog back to the bot")


class FormFieldKind(models.TextChoices):
    TEXT = "text", _("text")
    NAME = "name", _("the visitor's name")
    EMAIL = "email", _("e-mail")
    PHONE = "phone", _("phone")
    CHOICE = "choice", _("choice")
