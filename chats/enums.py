from django.db import models
from django.utils.translation import gettext_lazy as _


class DialogStatus(models.TextChoices):
    BOT = "bot", _("bot answering")
    WAITING = "waiting", _("waiting for an operator")
    OPERATOR = "operator", _("operator connected")
    CLOSED = "closed", _("closed")


class Messenger(models.TextChoices):
    """The channel a client writes from (SPEC "Dialog viewer")."""

    WEB = "web", "Web"
    TELEGRAM = "telegram", "Telegram"
    WHATSAPP = "whatsapp", "WhatsApp"
    VIBER = "viber", "Viber"
    FACEBOOK = "facebook", "Facebook"
    ALICE = "alice", "Alice"
    YANDEX = "yandex", "Yandex"
    VK = "vk", "VK"
    SKYPE = "skype", "Skype"
    SLACK = "slack", "Slack"
    WECHAT = "wechat", "WeChat"
    SNAPCHAT = "snapchat", "Snapchat"
    LINE = "line", "Line"


class AuthorKind(models.TextChoices):
    CLIENT = "client", _("client")
    BOT = "bot", _("bot")
    OPERATOR = "operator", _("operator")
    SYSTEM = "system", _("system")


class FeedbackScale(models.IntegerChoices):
    TWO_POINT = 2, _("2-point scoring")
    FIVE_POINT = 5, _("5-point scoring")
    TEN_POINT = 10, _("10-point scoring")


class HeadsetMode(models.TextChoices):
    ALWAYS = "always", _("always visible")
    TRIGGER = "trigger", _("revealed by the trigger")
    NEVER = "never", _("hidden")


class ScriptKind(models.TextChoices):
    START = "start", _("start (greets a new dialog)")
    FALLBACK = "fallback", _("fallback (answers what matched nothing)")
    REGULAR = "regular", _("regular (reached by buttons, triggers or settings)")


class ChatLanguage(models.TextChoices):
    ENGLISH = "en", "English"
    RUSSIAN = "ru", "Русский"
    ITALIAN = "it", "Italiano"


class AttachmentKind(models.TextChoices):
    """What a message's attachment is (its "kind" key). The widget reads these values
    from the page (widget.html), so Python and JavaScript share one spelling."""

    PHOTO = "photo", _("photo")
    DOCUMENT = "document", _("document")
    HANDOFF_FORM = "handoff_form", _("form before talking to a person")
    CONTACT_FORM = "contact_form", _("contact form")
    FORM_ANSWERS = "form_answers", _("form answers")
    RATING = "rating", _("rating")


class MessageDirection(models.TextChoices):
    """Which way a message travels, for pricing: the client's messages come in; the
    bot's, operators' and system messages go out to the client."""

    INBOUND = "inbound", _("inbound (from the client)")
    OUTBOUND = "outbound", _("outbound (to the client)")
