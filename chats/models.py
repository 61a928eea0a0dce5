from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chats.enums import (
    AuthorKind,
    ChatLanguage,
    DialogStatus,
    HeadsetMode,
    MessageDirection,
    Messenger,
    ScriptKind,
)
from chats.validators import (
    allowed_site_sources,
    validate_allowed_sites,
    validate_avatar,
    validate_colour,
)


def new_public_key() -> str:
    return secrets.token_urlsafe(12)


def new_session_id() -> str:
    return secrets.token_hex(16)


def new_scripts_version() -> int:
    # random, not a counter: a chat deleted and created again under the same id (or a
    # database restored from a backup) never meets a compiled copy of the old one
    return secrets.randbits(62)


def chat_scripts_version_bump(chat_ids: set[int]) -> None:
    """Tell every process that these chats' bot (scripts, steps, buttons, the chat's own
    settings) changed: the per-process compiled copy (chats.selectors.chat_bot_get) is
    keyed by this version. Called after the change, in its transaction."""
    if chat_ids:
        Chat.objects.filter(pk__in=chat_ids).update(scripts_version=new_scripts_version())


class BotPartQuerySet(models.QuerySet):
    """Scripts, steps and buttons: bulk writes bump their chats' scripts_version too, so
    no compiled copy of the bot outlives a change made without save()."""

    chat_path = "chat_id"

    def _chat_ids(self, objs=None) -> set[int]:
        if objs is not None:
            return {obj.chat_id_for_version() for obj in objs}
        return set(self.values_list(self.chat_path, flat=True).distinct())

    def update(self, **kwargs) -> int:
        with transaction.atomic(using=self.db):
            chat_ids = self._chat_ids()
            count = super().update(**kwargs)
            chat_scripts_version_bump(chat_ids | self._chat_ids())
        return count

    def delete(self):
        with transaction.atomic(using=self.db):
            chat_ids = self._chat_ids()
            result = super().delete()
            chat_scripts_version_bump(chat_ids)
        return result

    def bulk_create(self, objs, *args, **kwargs):
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            chat_scripts_version_bump(self._chat_ids(objs))
        return created

    def bulk_update(self, objs, *args, **kwargs):
        with transaction.atomic(using=self.db):
            count = super().bulk_update(objs, *args, **kwargs)
            chat_scripts_version_bump(self._chat_ids(objs))
        return count


class BotPart(models.Model):
    """A part of a chat's bot: saving or deleting it bumps the chat's scripts_version."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        with transaction.atomic():
            super().save(*args, **kwargs)
            chat_scripts_version_bump({self.chat_id_for_version()})

    def delete(self, *args, **kwargs):
        chat_id = self.chat_id_for_version()
        with transaction.atomic():
            result = super().delete(*args, **kwargs)
            chat_scripts_version_bump({chat_id})
        return result

    def chat_id_for_version(self) -> int:
        raise NotImplementedError


class ChatQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        # the compiled bot copies the chat's name, language and reply setting
        kwargs.setdefault("scripts_version", new_scripts_version())
        return super().update(**kwargs)


class Chat(models.Model):
    """One configured bot with its widget, scripts and settings (SPEC "Chat settings")."""

    name = models.CharField(_("name"), max_length=200)
    public_key = models.CharField(
        _("public key"), max_length=40, unique=True, default=new_public_key, editable=False
    )
    language = models.CharField(
        _("language"), max_length=5, choices=ChatLanguage.choices, default=ChatLanguage.ENGLISH
    )
    reply_to_first_message = models.BooleanField(
        _("reply to the user's first message"),
        default=True,
        help_text=_("When off, a first message that matches no trigger gets no bot answer."),
    )
    knowledge_base_url = models.URLField(_("knowledge base link"), blank=True)
    headset_mode = models.CharField(
        _("headset icon"), max_length=10, choices=HeadsetMode.choices, default=HeadsetMode.ALWAYS
    )
    allowed_sites = models.TextField(
        _("sites allowed to embed the widget"),
        blank=True,
        validators=[validate_allowed_sites],
        help_text=_(
            "One per line, e.g. https://example.com or https://*.example.com. "
            "Empty: any site may embed the widget."
        ),
    )

    script_after_bot_end = models.ForeignKey(
        "chats.Script",
        verbose_name=_("script after the bot ends a dialog"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    bot_color = models.CharField(
        _("bot colour"), max_length=60, default="#eef1f5", validators=[validate_colour]
    )
    operator_color = models.CharField(
        _("operator colour"), max_length=60, default="#dff3e4", validators=[validate_colour]
    )
    user_color = models.CharField(
        _("user colour"), max_length=60, default="#2f6fed", validators=[validate_colour]
    )
    button_color = models.CharField(
        _("button colour"), max_length=60, default="#2f6fed", validators=[validate_colour]
    )
    button_text_color = models.CharField(
        _("button text colour"), max_length=60, default="#ffffff", validators=[validate_colour]
    )

    bot_avatar = models.FileField(
        _("bot avatar"), upload_to="avatars/", blank=True, validators=[validate_avatar]
    )
    operator_avatar = models.FileField(
        _("operator avatar"), upload_to="avatars/", blank=True, validators=[validate_avatar]
    )
    user_avatar = models.FileField(
        _("user avatar"), upload_to="avatars/", blank=True, validators=[validate_avatar]
    )

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # bumped by every change to the chat or its scripts, steps and buttons; each process
    # keeps one compiled copy of the bot per chat and version (chats.selectors.chat_bot_get)
    scripts_version = models.PositiveBigIntegerField(default=new_scripts_version, editable=False)

    objects = ChatQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("chat")
        verbose_name_plural = _("chats")

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # a full save must not write back the version this instance read: a script
        # saved since then bumped it
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "scripts_version"
            ]
        with transaction.atomic():
            super().save(*args, **kwargs)
            if kwargs.get("update_fields") is not None:
                chat_scripts_version_bump({self.pk})

    @property
    def allowed_site_list(self) -> list[str]:
        """The sites that may embed the widget frame; empty means any."""
        return allowed_site_sources(self.allowed_sites)

    def clean(self) -> None:
        errors = {}
        script = self.script_after_bot_end
        if script is not None and self.pk and script.chat_id != self.pk:
            errors["script_after_bot_end"] = _("Choose a script of this chat.")
        if errors:
            raise ValidationError(errors)


class MessengerLink(models.Model):
    """A button next to the widget launcher that opens the chat in a messenger."""

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messenger_links")
    messenger = models.CharField(_("messenger"), max_length=20, choices=Messenger.choices)
    url = models.URLField(_("link"))
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("messenger link")
        verbose_name_plural = _("messenger links")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.get_messenger_display()}: {self.url}"


class Script(BotPart):
    """A sequence of bot steps, reached by the start of a dialog, a button, a keyword
    trigger or a chat setting."""

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="scripts")
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(
        _("kind"), max_length=10, choices=ScriptKind.choices, default=ScriptKind.REGULAR
    )
    keywords = models.TextField(
        _("keyword triggers"),
        blank=True,
        help_text=_(
            "One per line. A client message containing one of them starts this script "
            "(case and accents ignored)."
        ),
    )

    objects = BotPartQuerySet.as_manager()

    class Meta:
        verbose_name = _("script")
        verbose_name_plural = _("scripts")
        ordering = ["chat", "name"]
        constraints = [
            models.UniqueConstraint(fields=["chat", "name"], name="script_name_unique_per_chat"),
            models.UniqueConstraint(
                fields=["chat"],
                condition=Q(kind=ScriptKind.START),
                name="one_start_script_per_chat",
                violation_error_message=_("This chat already has a start script."),
            ),
            models.UniqueConstraint(
                fields=["chat"],
                condition=Q(kind=ScriptKind.FALLBACK),
                name="one_fallback_script_per_chat",
                violation_error_message=_("This chat already has a fallback script."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.chat}: {self.name}"

    @property
    def keyword_list(self) -> list[str]:
        return [line.strip() for line in self.keywords.splitlines() if line.strip()]

    def chat_id_for_version(self) -> int:
        return self.chat_id


class StepQuerySet(BotPartQuerySet):
    chat_path = "script__chat_id"


class Step(BotPart):
    """One bot message of a script, optionally recording a marker or asking for a human."""

    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    text = models.TextField(_("bot text"), blank=True)
    marker = models.CharField(
        _("marker"),
        max_length=100,
        blank=True,
        help_text=_("Recorded on the dialog when this step is reached; used by reports."),
    )
    connect_operator = models.BooleanField(
        _("connect operator"),
        default=False,
        help_text=_("Reaching this step opens a request for a human."),
    )

    objects = StepQuerySet.as_manager()

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["script", "position", "id"]

    def __str__(self) -> str:
        return f"{self.script.name} #{self.position}"

    def chat_id_for_version(self) -> int:
        return Script.objects.values_list("chat_id", flat=True).get(pk=self.script_id)

    def clean(self) -> None:
        if not self.text.strip() and not self.marker and not self.connect_operator:
            raise ValidationError(
                _("A step needs bot text, a marker or the connect-operator mark.")
            )


class StepButtonQuerySet(BotPartQuerySet):
    chat_path = "step__script__chat_id"


class StepButton(BotPart):
    """A button under a step's text: it leads to another script or opens a URL."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="buttons")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    label = models.CharField(_("label"), max_length=100)
    target_script = models.ForeignKey(
        Script,
        verbose_name=_("leads to script"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    url = models.URLField(_("or opens URL"), blank=True)

    objects = StepButtonQuerySet.as_manager()

    class Meta:
        verbose_name = _("step button")
        verbose_name_plural = _("step buttons")
        ordering = ["step", "position", "id"]

    def __str__(self) -> str:
        return self.label

    def chat_id_for_version(self) -> int:
        return Step.objects.values_list("script__chat_id", flat=True).get(pk=self.step_id)

    def clean(self) -> None:
        if bool(self.target_script_id) == bool(self.url):
            raise ValidationError(_("A button leads either to a script or to a URL (one of them)."))
        if (
            self.target_script_id
            and self.step_id
            and (self.target_script.chat_id != self.step.script.chat_id)
        ):
            raise ValidationError({"target_script": _("Choose a script of the same chat.")})


class Client(models.Model):
    """A person writing in: one per channel identity in a chat."""

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="clients")
    messenger = models.CharField(max_length=20, choices=Messenger.choices)
    external_id = models.CharField(
        max_length=100, help_text=_("The visitor id (web) or the user id in the messenger.")
    )
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        constraints = [
            models.UniqueConstraint(
                fields=["chat", "messenger", "external_id"], name="client_identity_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name or f"{self.messenger}:{self.external_id[:12]}"


class Dialog(models.Model):
    """One session of a client in a chat on one channel."""

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="dialogs")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="dialogs")
    messenger = models.CharField(max_length=20, choices=Messenger.choices)
    session_id = models.CharField(
        max_length=32, unique=True, default=new_session_id, editable=False
    )
    status = models.CharField(max_length=10, choices=DialogStatus.choices, default=DialogStatus.BOT)
    started_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # wide enough that the dearest price (MAX_MESSAGE_PRICE) on every message a dialog
    # could ever hold cannot overflow it: a full cost must never refuse a message
    cost = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    # the highest message sequence handed out; incremented under the dialog's row lock
    last_sequence = models.PositiveBigIntegerField(default=0)
    client_message_count = models.PositiveIntegerField(default=0)
    # how often the bot fell back to "not understood"; a cue for the handoff trigger
    fallback_count = models.PositiveIntegerField(default=0)
    headset_revealed = models.BooleanField(default=False)

    # not a column: the chat's scripts_version as message_post's lock statement read it
    # in the current transaction (the bot engine's compiled scripts are of it)
    bot_version: int | None = None

    class Meta:
        verbose_name = _("dialog")
        verbose_name_plural = _("dialogs")
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["chat", "status", "-started_at"]),
            # the dialog viewer's list, newest first: over all the user's chats, in one
            # chat, in one chat and channel (reports.views.viewer; bench/viewer.py)
            models.Index(fields=["-started_at", "-id"], name="dialog_started"),
            models.Index(fields=["chat", "-started_at", "-id"], name="dialog_chat_started"),
            models.Index(
                fields=["chat", "messenger", "-started_at"], name="dialog_chat_channel_started"
            ),
            # the idle sweep: open dialogs the bot has, by last activity (small: only those)
            models.Index(
                fields=["last_message_at", "started_at"],
                condition=Q(status=DialogStatus.BOT),
                name="dialog_bot_idle",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["client"],
                condition=~Q(status=DialogStatus.CLOSED),
                name="one_open_dialog_per_client",
            )
        ]

    def __str__(self) -> str:
        return f"dialog {self.session_id}"

    @property
    def is_closed(self) -> bool:
        return self.status == DialogStatus.CLOSED

    @property
    def headset_visible(self) -> bool:
        """Whether the client may ask for a person: always, or once the trigger said so."""
        mode = self.chat.headset_mode
        return mode == HeadsetMode.ALWAYS or (mode == HeadsetMode.TRIGGER and self.headset_revealed)


class Message(models.Model):
    """A stored message. `sequence` orders a dialog's messages and is what a
    reconnecting client resumes from; `client_msg_id` makes client sends idempotent."""

    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="messages")
    sequence = models.PositiveBigIntegerField()
    author_kind = models.CharField(max_length=10, choices=AuthorKind.choices)
    author_name = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True)
    buttons = models.JSONField(default=list, blank=True)
    attachments = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    channel_message_id = models.CharField(max_length=100, blank=True)
    client_msg_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL means "not sent by a client", unique only when set

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["dialog", "sequence"]
        # "no operator response": does a dialog have an operator message (index only)
        indexes = [models.Index(fields=["dialog", "author_kind"], name="message_dialog_author")]
        constraints = [
            models.UniqueConstraint(fields=["dialog", "sequence"], name="message_sequence_unique"),
            models.UniqueConstraint(
                fields=["dialog", "client_msg_id"],
                condition=Q(client_msg_id__isnull=False),
                name="message_client_msg_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dialog_id}#{self.sequence} {self.author_kind}"


class MarkerHit(models.Model):
    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="marker_hits")
    marker = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("marker hit")
        verbose_name_plural = _("marker hits")
        ordering = ["created_at", "id"]
        # the viewer's and the reports' marker filter
        indexes = [models.Index(fields=["marker", "dialog"], name="markerhit_marker_dialog")]

    def __str__(self) -> str:
        return self.marker


class PageVisit(models.Model):
    """A page of the host site the visitor opened, as reported by the widget snippet."""

    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="page_visits")
    url = models.URLField(max_length=2000)
    title = models.CharField(max_length=300, blank=True)
    visited_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("page visit")
        verbose_name_plural = _("page visits")
        ordering = ["visited_at", "id"]

    def __str__(self) -> str:
        return self.url


MAX_MESSAGE_PRICE = 10_000


class MessagePrice(models.Model):
    """What one message costs on a channel in one direction during a period: billing
    and each dialog's `cost` are computed from these (chats.services.billing). Periods
    of one channel and direction never overlap; `valid_until` is exclusive, empty =
    open-ended."""

    messenger = models.CharField(_("messenger"), max_length=20, choices=Messenger.choices)
    direction = models.CharField(_("direction"), max_length=10, choices=MessageDirection.choices)
    price = models.DecimalField(
        _("price per message"),
        max_digits=10,
        decimal_places=4,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_MESSAGE_PRICE)],
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(
        _("valid until"), null=True, blank=True, help_text=_("Exclusive; empty: no end.")
    )

    class Meta:
        verbose_name = _("message price")
        verbose_name_plural = _("message prices")
        ordering = ["messenger", "direction", "-valid_from"]
        indexes = [models.Index(fields=["messenger", "direction", "valid_from"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gte=0) & Q(price__lte=MAX_MESSAGE_PRICE),
                name="message_price_within_bounds",
                violation_error_message=_("A price is between 0 and 10,000."),
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=models.F("valid_from")),
                name="message_price_period_ends_after_start",
                violation_error_message=_("A price period ends after it starts."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_messenger_display()} {self.get_direction_display()}: {self.price}"

    def clean(self) -> None:
        if not (self.messenger and self.direction and self.valid_from):
            return
        overlapping = MessagePrice.objects.filter(
            messenger=self.messenger, direction=self.direction
        ).exclude(pk=self.pk)
        if self.valid_until is not None:
            overlapping = overlapping.filter(valid_from__lt=self.valid_until)
        overlapping = overlapping.filter(
            Q(valid_until__isnull=True) | Q(valid_until__gt=self.valid_from)
        )
        if overlapping.exists():
            raise ValidationError(
                _("Another price of this channel and direction covers part of this period.")
            )


def new_upload_token() -> str:
    return secrets.token_urlsafe(24)


def upload_path(instance: Upload, filename: str) -> str:
    # the stored name is never the uploader's: a random folder and a fixed name
    return f"uploads/{secrets.token_hex(16)}/content"


class Upload(models.Model):
    """A file a visitor or an operator uploaded for one dialog (chats.services.uploads):
    checked by its content before it is stored, attached to at most one message, and
    only by whoever uploaded it (the visitor's client, or the operator's user)."""

    token = models.CharField(max_length=40, unique=True, default=new_upload_token, editable=False)
    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="uploads")
    # who uploaded it: a visitor (their client) or an operator (their user)
    client = models.ForeignKey(
        Client, null=True, blank=True, on_delete=models.CASCADE, related_name="uploads"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    kind = models.CharField(max_length=20)  # AttachmentKind.PHOTO or DOCUMENT
    file = models.FileField(upload_to=upload_path, max_length=200)
    file_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # the message it is attached to: set once, in the transaction that stores the message
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="uploads"
    )

    class Meta:
        verbose_name = _("upload")
        verbose_name_plural = _("uploads")
        indexes = [
            models.Index(fields=["client", "created_at"], name="upload_client_created"),
            models.Index(fields=["user", "created_at"], name="upload_user_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(client__isnull=False, user__isnull=True)
                | Q(client__isnull=True, user__isnull=False),
                name="upload_one_uploader",
            )
        ]

    def __str__(self) -> str:
        return self.file_name
