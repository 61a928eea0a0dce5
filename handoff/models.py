from __future__ import annotations

import re
import uuid
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chats.enums import FeedbackScale
from handoff.enums import CloseReason, Fallback, FormFieldKind, RequestReason, RequestStatus


def validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(
            _("“%(value)s” is not a time zone (e.g. Europe/Rome)."), params={"value": value}
        )


def set_null_and_revise(collector, field, sub_objs, using) -> None:
    """on_delete of a script the settings name: SET_NULL, and a new revision in the same
    update, so processes that cached the settings read them again (the deletion's
    update bypasses HandoffSettings.save())."""
    collector.add_field_update(field, None, sub_objs)
    collector.add_field_update(field.model._meta.get_field("revision"), uuid.uuid4(), sub_objs)


class HandoffSettings(models.Model):
    """How a chat hands visitors to people: timeouts, fallback, trigger, hours."""

    chat = models.OneToOneField(
        "chats.Chat", on_delete=models.CASCADE, related_name="handoff_settings"
    )
    accept_timeout_seconds = models.PositiveIntegerField(
        _("accept timeout (s)"), default=120, validators=[MinValueValidator(1)]
    )
    fallback = models.CharField(
        _("when nobody accepts"), max_length=10, choices=Fallback.choices, default=Fallback.FORM
    )
    reply_timeout_seconds = models.PositiveIntegerField(
        _("reply timeout after the last message (s)"),
        default=300,
        validators=[MinValueValidator(1)],
    )
    unavailable_text = models.CharField(
        _("unavailable notice"),
        max_length=500,
        default="Sorry, no operator is available right now. Please try again later.",
    )
    lead_form_text = models.CharField(
        _("contact form prompt"),
        max_length=500,
        default="Our operators are busy. Leave your contact details and we will get back to you.",
    )
    trigger_prompt = models.TextField(
        _("trigger prompt"),
        blank=True,
        help_text=_(
            "When the headset is revealed by the trigger: when to offer a human, in "
            "plain words. Quoted phrases and short '- ' list lines are matched "
            "literally by the built-in classifier."
        ),
    )
    working_hours_enabled = models.BooleanField(
        _("working hours"), default=False, help_text=_("Off: operators are available 24/7.")
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    feedback_enabled = models.BooleanField(_("request feedback at the end"), default=True)
    feedback_delay_seconds = models.PositiveIntegerField(
        _("ask for feedback after (s from the dialog's start)"), default=0
    )
    feedback_scale = models.PositiveSmallIntegerField(
        _("feedback scale"), choices=FeedbackScale.choices, default=FeedbackScale.FIVE_POINT
    )
    feedback_prompt = models.CharField(
        _("rating prompt"), max_length=500, default="Please rate the conversation"
    )
    operator_idle_seconds = models.PositiveIntegerField(
        _("operator idle time before the dialog goes back to the bot (s)"),
        default=600,
        validators=[MinValueValidator(1)],
    )
    script_after_operator_end = models.ForeignKey(
        "chats.Script",
        verbose_name=_("script after an operator ends a dialog"),
        null=True,
        blank=True,
        on_delete=set_null_and_revise,
        related_name="+",
    )
    script_after_client_timeout = models.ForeignKey(
        "chats.Script",
        verbose_name=_("script after a client response timeout"),
        null=True,
        blank=True,
        on_delete=set_null_and_revise,
        related_name="+",
    )
    queue_max_wait_seconds = models.PositiveIntegerField(
        _("longest time in the queue (s)"), default=900, validators=[MinValueValidator(1)]
    )
    queue_notice_interval_minutes = models.PositiveIntegerField(
        _("tell the client they are queued every (min)"),
        default=2,
        validators=[MinValueValidator(1)],
    )
    queue_notice_text = models.CharField(
        _("queue notice"),
        max_length=500,
        default="All operators are busy. You are number {position} in the queue.",
        help_text=_("{position} is replaced with the client's place in the queue."),
    )
    sla_first_response_seconds = models.PositiveIntegerField(
        _("SLA for the first response (s)"), default=60, validators=[MinValueValidator(1)]
    )
    sla_next_response_seconds = models.PositiveIntegerField(
        _("SLA for later responses (s)"), default=120, validators=[MinValueValidator(1)]
    )
    # changes whenever the settings, their working periods or form questions are saved:
    # processes cache the settings and compare this (read with a row they lock anyway)
    revision = models.UUIDField(default=uuid.uuid4, editable=False)

    class Meta:
        verbose_name = _("handoff settings")
        verbose_name_plural = _("handoff settings")

    def __str__(self) -> str:
        return f"handoff settings of {self.chat}"

    def save(self, *args, **kwargs) -> None:
        self.revision = uuid.uuid4()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "revision"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors = {}
        for field in ("script_after_operator_end", "script_after_client_timeout"):
            script = getattr(self, field)
            if script is not None and self.chat_id and script.chat_id != self.chat_id:
                errors[field] = _("Choose a script of this chat.")
        if errors:
            raise ValidationError(errors)


def handoff_settings_revise(settings_id: int | None) -> None:
    """A working period or form question of these settings changed: cached copies
    are stale. (Queryset .update()/.delete() bypass this, as they bypass save().)"""
    if settings_id is not None:
        HandoffSettings.objects.filter(pk=settings_id).update(revision=uuid.uuid4())


class RevisesSettings(models.Model):
    """A part of the handoff settings: saving or deleting it revises them."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        handoff_settings_revise(self.settings_id)

    def delete(self, *args, **kwargs):
        settings_id = self.settings_id
        result = super().delete(*args, **kwargs)
        handoff_settings_revise(settings_id)
        return result


class WorkingPeriod(RevisesSettings):
    settings = models.ForeignKey(
        HandoffSettings, on_delete=models.CASCADE, related_name="working_periods"
    )
    weekday = models.PositiveSmallIntegerField(
        _("day"),
        choices=[
            (0, _("Monday")),
            (1, _("Tuesday")),
            (2, _("Wednesday")),
            (3, _("Thursday")),
            (4, _("Friday")),
            (5, _("Saturday")),
            (6, _("Sunday")),
        ],
    )
    starts_at = models.TimeField(_("from"))
    ends_at = models.TimeField(_("to"))

    class Meta(RevisesSettings.Meta):
        verbose_name = _("working period")
        verbose_name_plural = _("working periods")
        ordering = ["weekday", "starts_at"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts_at:%H:%M}–{self.ends_at:%H:%M}"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError(
                _("A period ends after it starts (split periods that cross midnight).")
            )


class FormField(RevisesSettings):
    """A question of the pre-handoff form, asked once per dialog."""

    settings = models.ForeignKey(
        HandoffSettings, on_delete=models.CASCADE, related_name="form_fields"
    )
    position = models.PositiveSmallIntegerField(default=0)
    label = models.CharField(_("question"), max_length=200)
    kind = models.CharField(
        _("kind"), max_length=10, choices=FormFieldKind.choices, default=FormFieldKind.TEXT
    )
    required = models.BooleanField(_("required"), default=True)
    choices = models.TextField(
        _("options"), blank=True, help_text=_("For a choice: one option per line.")
    )

    class Meta(RevisesSettings.Meta):
        verbose_name = _("form question")
        verbose_name_plural = _("form questions")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label

    @property
    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]

    def clean(self) -> None:
        if self.kind == FormFieldKind.CHOICE and len(self.choice_list) < 2:
            raise ValidationError({"choices": _("A choice needs at least two options.")})


class DialogFormAnswers(models.Model):
    """The pre-handoff form's answers of a dialog: the form is shown once per dialog."""

    dialog = models.OneToOneField(
        "chats.Dialog", on_delete=models.CASCADE, related_name="handoff_form"
    )
    answers = models.JSONField(default=list)
    # what the answers say about the visitor: {"name", "phone", "email"} (may be blank)
    contact = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("form answers of a dialog")
        verbose_name_plural = _("form answers of dialogs")

    def __str__(self) -> str:
        return f"form of {self.dialog_id}"


class Request(models.Model):
    """A request for a human inside a dialog. Its allowed transitions are data
    (`TRANSITIONS`) and every surface changes it through handoff.services."""

    TRANSITIONS: dict[str, set[str]] = {
        RequestStatus.PENDING: {
            RequestStatus.ACCEPTED,
            RequestStatus.EXPIRED,
            RequestStatus.CLOSED,
        },
        RequestStatus.EXPIRED: {RequestStatus.QUEUED, RequestStatus.CLOSED},
        RequestStatus.QUEUED: {RequestStatus.ACCEPTED, RequestStatus.EXPIRED, RequestStatus.CLOSED},
        # accepted -> accepted: transferred to another operator (an event records it)
        RequestStatus.ACCEPTED: {RequestStatus.CLOSED, RequestStatus.ACCEPTED},
        RequestStatus.CLOSED: set(),
    }
    OPEN_STATUSES = (RequestStatus.PENDING, RequestStatus.QUEUED, RequestStatus.ACCEPTED)
    WAITING_STATUSES = (RequestStatus.PENDING, RequestStatus.QUEUED)

    dialog = models.ForeignKey(
        "chats.Dialog", on_delete=models.CASCADE, related_name="handoff_requests"
    )
    chat = models.ForeignKey(
        "chats.Chat", on_delete=models.CASCADE, related_name="handoff_requests"
    )
    status = models.CharField(
        max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    reason = models.CharField(max_length=20, choices=RequestReason.choices)
    operator = models.ForeignKey(
        "distributor.Operator",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests",
    )
    form_answers = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=20, choices=CloseReason.choices, blank=True)
    rejected_by = models.ManyToManyField("distributor.Operator", blank=True, related_name="+")
    # automatic distribution: the one operator the waiting request is offered to now,
    # until offer_deadline (then the sweep offers it to the next and tells this one)
    offered_to = models.ForeignKey(
        "distributor.Operator",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="offers",
    )
    offer_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    # deadlines: a periodic sweep acts on the due ones (handoff.tasks)
    accept_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    queue_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    next_queue_notice_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reply_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    idle_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    # the chat asks for feedback N seconds after the dialog's start, during the talk
    feedback_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    feedback_asked = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("request")
        verbose_name_plural = _("requests")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["chat", "status", "created_at"]),
            # a manager's load: what they hold and what they are offered
            models.Index(
                fields=["operator"],
                condition=Q(status="accepted"),
                name="request_held_by_operator",
            ),
            models.Index(
                fields=["offered_to"],
                condition=Q(offered_to__isnull=False),
                name="request_offered_to_operator",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dialog"],
                condition=Q(status__in=["pending", "queued", "accepted"]),
                name="one_open_request_per_dialog",
            )
        ]

    def __str__(self) -> str:
        return f"request {self.pk} ({self.status})"

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, set())

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class RequestEvent(models.Model):
    """Who did what to a request, when and why: the audit trail."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, choices=RequestStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("request event")
        verbose_name_plural = _("request events")

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"

    @property
    def from_status_label(self) -> str:
        """The status it left, in words ("" for a request's first event)."""
        if self.from_status in RequestStatus.values:
            return str(RequestStatus(self.from_status).label)
        return self.from_status


class Feedback(models.Model):
    """A client's rating of a conversation with an operator (one per request). The
    operator's name is kept as it was, so the rating still reads right when the
    operator's profile is renamed or removed (then `operator` is empty)."""

    dialog = models.ForeignKey("chats.Dialog", on_delete=models.CASCADE, related_name="feedback")
    request = models.ForeignKey(
        Request, null=True, blank=True, on_delete=models.SET_NULL, related_name="feedback"
    )
    operator = models.ForeignKey(
        "distributor.Operator",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="feedback",
    )
    operator_name = models.CharField(max_length=200, blank=True)
    scale = models.PositiveSmallIntegerField(choices=FeedbackScale.choices)
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1) & Q(score__lte=models.F("scale")),
                name="handoff_feedback_score_within_scale",
            ),
            models.UniqueConstraint(
                fields=["dialog", "request"], name="handoff_one_feedback_per_request"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.score}/{self.scale}"


class ConversationRead(models.Model):
    """How far an operator has read a dialog in the console: the inbox counts the
    visitor's messages after `last_read_sequence` as unread."""

    operator = models.ForeignKey(
        "distributor.Operator", on_delete=models.CASCADE, related_name="conversation_reads"
    )
    dialog = models.ForeignKey("chats.Dialog", on_delete=models.CASCADE, related_name="+")
    last_read_sequence = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("conversation read by an operator")
        verbose_name_plural = _("conversations read by operators")
        constraints = [
            models.UniqueConstraint(fields=["operator", "dialog"], name="one_read_mark_per_dialog")
        ]

    def __str__(self) -> str:
        return f"{self.operator_id} read {self.dialog_id} to {self.last_read_sequence}"


class ConversationNote(models.Model):
    """A private note an operator leaves on a conversation: for operators only. It is
    not a message: it never reaches the visitor (widget, Telegram), the feedback or an
    export; consoles watching the request get it live (handoff.services.notes)."""

    TEXT_MAX_CHARS = 2000

    request = models.ForeignKey(
        Request, on_delete=models.CASCADE, related_name="notes", verbose_name=_("request")
    )
    author = models.ForeignKey(
        "distributor.Operator",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversation_notes",
        verbose_name=_("author"),
    )
    # kept as it was, so the note still reads right when the profile is renamed or removed
    author_name = models.CharField(_("author's name"), max_length=200, blank=True)
    text = models.TextField(_("text"), max_length=TEXT_MAX_CHARS)
    # the console's id for the note: a resend of the same note is stored once
    client_msg_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("written at"), default=timezone.now)

    class Meta:
        verbose_name = _("private note")
        verbose_name_plural = _("private notes")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "client_msg_id"], name="conversation_note_once"
            )
        ]

    def __str__(self) -> str:
        return f"note {self.pk} on request {self.request_id}"


CANNED_REPLY_VARIABLES = ("visitor_name", "operator_name", "chat_name")
_CANNED_PLACEHOLDER = re.compile(r"\{([^{}\s]*)\}")


class CannedReply(models.Model):
    """A reply an operator of the chat inserts in the console by typing `/` and its
    shortcut (issue 13). Its text may name {visitor_name}, {operator_name} and
    {chat_name}, filled in when it is inserted (the console fills them client-side from
    what it shows; CannedReply.render is the same rule)."""

    chat = models.ForeignKey("chats.Chat", on_delete=models.CASCADE, related_name="canned_replies")
    shortcut = models.SlugField(
        _("shortcut"),
        max_length=40,
        help_text=_("Typed after “/” in the console, e.g. “thanks” for /thanks."),
    )
    title = models.CharField(_("title"), max_length=100)
    text = models.TextField(
        _("text"),
        max_length=4000,
        help_text=_(
            "May use {visitor_name}, {operator_name} and {chat_name}; they are filled in "
            "when the operator inserts the reply."
        ),
    )

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["chat", "shortcut"]
        constraints = [
            models.UniqueConstraint(
                fields=["chat", "shortcut"], name="one_canned_reply_per_shortcut"
            )
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut} — {self.title}"

    def clean(self) -> None:
        super().clean()
        unknown = sorted(
            {
                name
                for name in _CANNED_PLACEHOLDER.findall(self.text or "")
                if name not in CANNED_REPLY_VARIABLES
            }
        )
        if unknown:
            raise ValidationError(
                {
                    "text": _(
                        "Unknown variable %(names)s: use {visitor_name}, {operator_name} "
                        "or {chat_name}."
                    )
                    % {"names": ", ".join(f"{{{name}}}" for name in unknown)}
                }
            )

    def render(self, *, visitor_name: str, operator_name: str, chat_name: str) -> str:
        """The text with its variables filled in (each value inserted as it is: a
        value holding "{chat_name}" is not expanded again)."""
        values = {
            "visitor_name": visitor_name,
            "operator_name": operator_name,
            "chat_name": chat_name,
        }
        return _CANNED_PLACEHOLDER.sub(
            lambda match: values.get(match.group(1), match.group(0)), self.text
        )
