"""Telegram bots of chats, the updates they receive, the messages they send, and the
operators who work from Telegram."""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def new_webhook_key() -> str:
    return secrets.token_urlsafe(12)


def new_webhook_secret() -> str:
    # Telegram allows 1-256 characters A-Z, a-z, 0-9, _ and -
    return secrets.token_urlsafe(48)


def new_connect_token() -> str:
    # /start payloads allow up to 64 characters A-Z, a-z, 0-9, _ and -
    return secrets.token_urlsafe(24)


class TelegramBot(models.Model):
    """A chat's Telegram bot. The token is a credential: it is never shown or logged."""

    chat = models.OneToOneField(
        "chats.Chat", on_delete=models.CASCADE, related_name="telegram_bot", verbose_name=_("chat")
    )
    token = models.CharField(_("token"), max_length=100, unique=True)
    telegram_id = models.BigIntegerField(_("Telegram id"), null=True, blank=True)
    username = models.CharField(_("username"), max_length=64, blank=True)
    webhook_key = models.CharField(max_length=32, unique=True, default=new_webhook_key)
    webhook_secret = models.CharField(max_length=100, default=new_webhook_secret)
    webhook_set_at = models.DateTimeField(_("webhook set"), null=True, blank=True)
    webhook_error = models.CharField(_("webhook error"), max_length=300, blank=True)
    notice_group_id = models.BigIntegerField(
        _("notice group id"),
        null=True,
        blank=True,
        help_text=_(
            "A Telegram group or supergroup (its id starts with -) where every new request "
            "is announced. Add the bot to the group first."
        ),
    )
    notice_group_error = models.CharField(_("notice group error"), max_length=300, blank=True)
    notice_group_error_at = models.DateTimeField(null=True, blank=True)
    # the backend-group bridge (telegram_bridge.services.group): a forum supergroup
    # where each client gets a topic and operators answer in it
    forum_group_id = models.BigIntegerField(
        _("operators' forum group id"),
        null=True,
        blank=True,
        help_text=_(
            "A supergroup with topics turned on (its id starts with -100). The bot must be "
            "an admin allowed to manage topics. Each client gets a topic; what operators "
            "write in it goes to the client."
        ),
    )
    forum_group_error = models.CharField(_("forum group error"), max_length=300, blank=True)
    internal_prefix = models.CharField(
        _("internal comment prefix"),
        max_length=10,
        default="#",
        blank=True,
        help_text=_("A message in a topic that starts with it stays in the group."),
    )
    keywords_required = models.BooleanField(
        _("relay after a keyword only"),
        default=False,
        help_text=_(
            "Nothing of a client reaches the group until they write one of the keywords; "
            "the keyword then asks for a person."
        ),
    )
    activation_keywords = models.CharField(
        _("keywords"),
        max_length=300,
        default="operator, help, /help, /chat",
        blank=True,
        help_text=_("Comma-separated, matched as whole words, case-insensitive."),
    )
    # the parallel bot: another program on the same token that calls Telegram through
    # Baton (telegram_bridge.services.proxy)
    copy_parallel_bot = models.BooleanField(
        _("copy the parallel bot's messages into topics"), default=True
    )
    parallel_webhook_url = models.CharField(
        _("parallel bot's webhook"),
        max_length=500,
        blank=True,
        help_text=_("Set by the parallel bot's setWebhook through Baton; updates are sent there."),
    )
    parallel_webhook_secret = models.CharField(max_length=256, blank=True)
    # since when updates are fanned out to parallel_webhook_url (set when the parallel
    # bot's setWebhook found none set): updates stored before are not sent there
    parallel_webhook_set_at = models.DateTimeField(
        _("parallel bot's webhook set"), null=True, blank=True
    )
    # the update types the parallel bot asked for (setWebhook / getUpdates); [] is
    # Telegram's default (every type but chat_member and the reactions)
    parallel_allowed_updates = models.JSONField(
        _("update types the parallel bot wants"), default=list, blank=True
    )
    # getUpdates emulation: updates below this update_id were confirmed by the parallel bot
    parallel_updates_offset = models.BigIntegerField(
        _("parallel bot's getUpdates offset"), default=0
    )
    # one sender per bot at a time (keeps per-chat order); a lease, not a held lock
    sending_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("Telegram bot")
        verbose_name_plural = _("Telegram bots")

    def __str__(self) -> str:
        return f"@{self.username}" if self.username else f"Telegram bot of {self.chat_id}"


class TelegramChat(models.Model):
    """A Telegram chat the bot talks in: a client's or operator's private chat, or a group."""

    bot = models.ForeignKey(TelegramBot, on_delete=models.CASCADE, related_name="chats")
    telegram_chat_id = models.BigIntegerField()
    blocked_at = models.DateTimeField(
        null=True, blank=True, help_text=_("The user blocked the bot; nothing is sent.")
    )
    # one processor of this chat's updates at a time (keeps their order)
    processing_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("Telegram chat")
        verbose_name_plural = _("Telegram chats")
        constraints = [
            models.UniqueConstraint(fields=["bot", "telegram_chat_id"], name="telegram_chat_unique")
        ]

    def __str__(self) -> str:
        return f"{self.bot}:{self.telegram_chat_id}"


class UpdateState(models.TextChoices):
    PENDING = "pending", _("waiting")
    PROCESSING = "processing", _("being processed")
    PROCESSED = "processed", _("processed")
    FAILED = "failed", _("failed (skipped)")


class TelegramUpdate(models.Model):
    """An update as the webhook received it: stored once, processed once, in order per
    chat. One that fails is tried a few times, then skipped so its chat goes on."""

    bot = models.ForeignKey(TelegramBot, on_delete=models.CASCADE, related_name="updates")
    update_id = models.BigIntegerField()
    # None: an update of no chat (inline queries, polls…); each is processed on its own
    telegram_chat_id = models.BigIntegerField(_("Telegram chat"), null=True, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    state = models.CharField(
        _("state"), max_length=10, choices=UpdateState.choices, default=UpdateState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # while processing: the end of the processor's lease (a killed worker's update is
    # taken up again then); after a failed attempt: when the next one may start
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    processed_at = models.DateTimeField(_("finished"), null=True, blank=True)
    error = models.CharField(_("last error"), max_length=500, blank=True)
    # the fan-out to the parallel bot's webhook (telegram_bridge.services.proxy): sent
    # (or given up, with forward_error) at; tries made; the next try not before
    forwarded_at = models.DateTimeField(_("sent to the parallel bot"), null=True, blank=True)
    forward_attempts = models.PositiveSmallIntegerField(
        _("tries to send to the parallel bot"), default=0
    )
    forward_next_at = models.DateTimeField(
        _("next try to send to the parallel bot"), null=True, blank=True
    )
    forward_error = models.CharField(
        _("error sending to the parallel bot"), max_length=300, blank=True
    )

    class Meta:
        verbose_name = _("received update")
        verbose_name_plural = _("received updates")
        constraints = [
            models.UniqueConstraint(fields=["bot", "update_id"], name="telegram_update_once")
        ]
        indexes = [
            models.Index(fields=["bot", "telegram_chat_id", "processed_at", "update_id"]),
            models.Index(fields=["processed_at", "received_at"]),
            models.Index(
                fields=["bot", "forwarded_at", "received_at"], name="telegram_update_forward"
            ),
        ]

    def __str__(self) -> str:
        return f"update {self.update_id} of {self.bot}"


class OperatorAccount(models.Model):
    """An operator's Telegram account on one bot, registered through a connect link."""

    bot = models.ForeignKey(TelegramBot, on_delete=models.CASCADE, related_name="operator_accounts")
    operator = models.ForeignKey(
        "distributor.Operator",
        on_delete=models.CASCADE,
        related_name="telegram_accounts",
        verbose_name=_("manager"),
    )
    telegram_user_id = models.BigIntegerField()
    telegram_username = models.CharField(max_length=64, blank=True)
    telegram_name = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)
    connected_at = models.DateTimeField(default=timezone.now)
    # the conversation the operator's plain messages go to
    current_request = models.ForeignKey(
        "handoff.Request", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("manager on Telegram")
        verbose_name_plural = _("managers on Telegram")
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "telegram_user_id"], name="telegram_account_unique"
            ),
            models.UniqueConstraint(
                fields=["bot", "operator"], name="telegram_operator_once_per_bot"
            ),
        ]

    def __str__(self) -> str:
        handle = f"@{self.telegram_username}" if self.telegram_username else self.telegram_user_id
        return f"{self.operator} ({handle})"


class ConnectLink(models.Model):
    """A single-use, expiring link that registers a Telegram account as an operator."""

    bot = models.ForeignKey(TelegramBot, on_delete=models.CASCADE, related_name="connect_links")
    operator = models.ForeignKey(
        "distributor.Operator",
        on_delete=models.CASCADE,
        related_name="telegram_connect_links",
        verbose_name=_("manager"),
    )
    token = models.CharField(max_length=64, unique=True, default=new_connect_token)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    used_by = models.ForeignKey(
        OperatorAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("manager connect link")
        verbose_name_plural = _("manager connect links")

    def __str__(self) -> str:
        return f"connect link for {self.operator}"

    @property
    def url(self) -> str:
        return f"https://t.me/{self.bot.username}?start={self.token}"


class AlertState(models.TextChoices):
    OPEN = "open", _("waiting for an answer")
    ACCEPTED = "accepted", _("accepted by this manager")
    TAKEN = "taken", _("taken by someone else")
    REJECTED = "rejected", _("rejected")
    CLOSED = "closed", _("closed before anyone accepted")
    # automatic distribution: not accepted in time (or passed on), offered to the next
    MOVED = "moved", _("offered to the next manager")


class OperatorAlert(models.Model):
    """The alert an operator got for a request: one per operator and request."""

    request = models.ForeignKey(
        "handoff.Request", on_delete=models.CASCADE, related_name="telegram_alerts"
    )
    account = models.ForeignKey(OperatorAccount, on_delete=models.CASCADE, related_name="alerts")
    state = models.CharField(max_length=10, choices=AlertState.choices, default=AlertState.OPEN)
    telegram_message_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("manager alert")
        verbose_name_plural = _("manager alerts")
        constraints = [
            models.UniqueConstraint(fields=["request", "account"], name="one_alert_per_operator")
        ]

    def __str__(self) -> str:
        return f"alert {self.request_id} → {self.account}"


class OperatorSession(models.Model):
    """A request an operator accepted from Telegram: the client's messages are relayed to
    them and their messages to the client until the request closes."""

    request = models.OneToOneField(
        "handoff.Request", on_delete=models.CASCADE, related_name="telegram_session"
    )
    account = models.ForeignKey(OperatorAccount, on_delete=models.CASCADE, related_name="sessions")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("manager session on Telegram")
        verbose_name_plural = _("manager sessions on Telegram")

    def __str__(self) -> str:
        return f"{self.account} on request {self.request_id}"


class TransferDraft(models.Model):
    """A transfer a manager started on Telegram: the target is chosen (an operator, or
    none for back to the bot) and the manager's next text message is the reason (not
    relayed to the client). One per manager; /cancel drops it."""

    account = models.OneToOneField(
        OperatorAccount, on_delete=models.CASCADE, related_name="transfer_draft"
    )
    request = models.ForeignKey("handoff.Request", on_delete=models.CASCADE, related_name="+")
    to_operator = models.ForeignKey(
        "distributor.Operator", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("transfer being written on Telegram")
        verbose_name_plural = _("transfers being written on Telegram")

    def __str__(self) -> str:
        return f"{self.account} transfers {self.request_id}"


class FormKind(models.TextChoices):
    HANDOFF = "handoff", _("pre-handoff form")
    CONTACT = "contact", _("contact form")


class FormProgress(models.Model):
    """A form asked as a sequence of questions in a Telegram dialog."""

    dialog = models.OneToOneField(
        "chats.Dialog", on_delete=models.CASCADE, related_name="telegram_form"
    )
    kind = models.CharField(max_length=10, choices=FormKind.choices)
    fields = models.JSONField(default=list)
    answers = models.JSONField(default=dict)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("form in progress")
        verbose_name_plural = _("forms in progress")

    def __str__(self) -> str:
        return f"{self.kind} form of {self.dialog_id}"

    @property
    def current_field(self) -> dict | None:
        return self.fields[self.position] if self.position < len(self.fields) else None


class SendStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    SKIPPED = "skipped", _("skipped (blocked or superseded)")


class SendPurpose(models.TextChoices):
    CLIENT = "client", _("to a client")
    OPERATOR = "operator", _("to a manager")
    ALERT = "alert", _("a manager's alert")
    GROUP_NOTICE = "group_notice", _("a group notice")
    TOPIC = "topic", _("to an operators' topic")
    BROADCAST = "broadcast", _("a broadcast")


class OutboundMessage(models.Model):
    """One Bot API call to make: written in the transaction that decided it, sent by
    the bot's sender after commit, in order per Telegram chat, retried after a 429."""

    bot = models.ForeignKey(TelegramBot, on_delete=models.CASCADE, related_name="outbox")
    telegram_chat_id = models.BigIntegerField()
    method = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    purpose = models.CharField(max_length=15, choices=SendPurpose.choices)
    status = models.CharField(max_length=10, choices=SendStatus.choices, default=SendStatus.PENDING)
    alert = models.ForeignKey(
        OperatorAlert, null=True, blank=True, on_delete=models.CASCADE, related_name="sends"
    )
    # the request this message belongs to, so an operator's Telegram reply finds it
    request_id = models.BigIntegerField(null=True, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True, help_text="chats.Message id")
    attempts = models.PositiveSmallIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    telegram_message_id = models.BigIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        indexes = [
            models.Index(fields=["bot", "status", "id"]),
            models.Index(fields=["bot", "telegram_chat_id", "telegram_message_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.method} → {self.telegram_chat_id} ({self.status})"


BROADCAST_TEXT_LIMIT = 4096  # Telegram's limit of a message
BROADCAST_CAPTION_LIMIT = 1024  # and of a photo's caption
BROADCAST_BUTTON_TEXT_LIMIT = 64
BROADCAST_FILE_ID = re.compile(r"[A-Za-z0-9_-]{20,300}")


def broadcast_button_url_valid(url: str) -> bool:
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return False
    return True


def broadcast_photo_url_valid(url: str) -> bool:
    """An https URL with a host (Telegram fetches the photo itself)."""
    try:
        URLValidator(schemes=["https"])(url)
    except ValidationError:
        return False
    return True


def broadcast_buttons_valid(rows: object) -> bool:
    """Whether `rows` is a list of rows of {"text", "url"} buttons with an http(s) URL."""
    if not isinstance(rows, list):
        return False
    for row in rows:
        if not isinstance(row, list) or not row:
            return False
        for button in row:
            if not isinstance(button, dict) or set(button) != {"text", "url"}:
                return False
            text, url = button["text"], button["url"]
            if not isinstance(text, str) or not text.strip():
                return False
            if len(text) > BROADCAST_BUTTON_TEXT_LIMIT:
                return False
            if not isinstance(url, str) or not broadcast_button_url_valid(url):
                return False
    return True


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    SENDING = "sending", _("sending")
    DONE = "done", _("done")
    CANCELLED = "cancelled", _("cancelled")


class CustomerBound(models.TextChoices):
    ANY = "any", _("bound or not")
    BOUND = "bound", _("bound to a customer")
    UNBOUND = "unbound", _("not bound to a customer")


class Broadcast(models.Model):
    """A message an admin sends to a segment of a bot's Telegram clients. The segment is
    stored as filters and turned into BroadcastRecipient rows once, when sending starts;
    each recipient then gets at most one outbox row (telegram_bridge.services.broadcasts).
    """

    bot = models.ForeignKey(
        TelegramBot, on_delete=models.CASCADE, related_name="broadcasts", verbose_name=_("bot")
    )
    title = models.CharField(
        _("title"), max_length=200, blank=True, help_text=_("For you; clients do not see it.")
    )
    text = models.TextField(_("text"))
    # a file_id Telegram gave for a photo, or an https URL Telegram fetches itself
    photo = models.CharField(
        _("photo"),
        max_length=500,
        blank=True,
        help_text=_("A photo's https URL or Telegram file_id; the text becomes its caption."),
    )
    # rows of URL buttons as stored in an outbox payload: [[{"text", "url"}], ...]
    buttons = models.JSONField(_("buttons"), default=list, blank=True)
    # the segment (the bot's chat and the Telegram channel are implied)
    marker = models.CharField(
        _("marker hit"),
        max_length=100,
        blank=True,
        help_text=_("Only clients with a dialog that hit this marker."),
    )
    active_after = models.DateTimeField(
        _("last activity after"), null=True, blank=True, help_text=_("Included as well.")
    )
    active_before = models.DateTimeField(_("last activity before"), null=True, blank=True)
    customer_bound = models.CharField(
        _("customer"), max_length=10, choices=CustomerBound.choices, default=CustomerBound.ANY
    )
    status = models.CharField(
        _("status"), max_length=10, choices=BroadcastStatus.choices, default=BroadcastStatus.DRAFT
    )
    recipients_total = models.PositiveIntegerField(_("recipients"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # the one-time token of the Admin form that created it: a second submission of the
    # same form (a double click on "Save and send") finds this broadcast, makes no other
    submission_token = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        indexes = [models.Index(fields=["status"], name="broadcast_status")]

    def __str__(self) -> str:
        return self.title or self.text[:50]

    def clean(self) -> None:
        errors: dict[str, str] = {}
        self.text = (self.text or "").strip()
        limit = BROADCAST_CAPTION_LIMIT if self.photo else BROADCAST_TEXT_LIMIT
        if not self.text:
            errors["text"] = _("A broadcast needs text.")
        elif len(self.text) > limit:
            errors["text"] = _("At most %(limit)d characters (%(count)d given).") % {
                "limit": limit,
                "count": len(self.text),
            }
        self.photo = (self.photo or "").strip()
        if self.photo and not (
            BROADCAST_FILE_ID.fullmatch(self.photo) or broadcast_photo_url_valid(self.photo)
        ):
            errors["photo"] = _("Give an https:// URL of the photo or a Telegram file_id.")
        if not broadcast_buttons_valid(self.buttons):
            errors["buttons"] = _("Buttons must be rows of a text and an http(s) URL.")
        if self.active_after and self.active_before and self.active_after >= self.active_before:
            errors["active_before"] = _("Must be later than “last activity after”.")
        if errors:
            raise ValidationError(errors)


class RecipientStatus(models.TextChoices):
    PENDING = "pending", _("waiting")
    QUEUED = "queued", _("in the outbox")
    SENDING = "sending", _("being sent")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    BLOCKED = "blocked", _("blocked the bot")
    SKIPPED = "skipped", _("skipped (cancelled)")


class BroadcastRecipient(models.Model):
    """One client of a broadcast, materialised once (unique per broadcast and client), and
    its result. `outbound` is the recipient's one outbox row: its presence is what makes
    handing the recipient to the outbox idempotent."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="recipients")
    client = models.ForeignKey(
        "chats.Client", on_delete=models.CASCADE, related_name="+", verbose_name=_("client")
    )
    telegram_chat_id = models.BigIntegerField(_("Telegram chat"))
    status = models.CharField(
        _("status"), max_length=10, choices=RecipientStatus.choices, default=RecipientStatus.PENDING
    )
    outbound = models.OneToOneField(
        OutboundMessage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="broadcast_recipient",
    )
    error = models.CharField(_("error"), max_length=300, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    telegram_message_id = models.BigIntegerField(_("Telegram message id"), null=True, blank=True)

    class Meta:
        verbose_name = _("broadcast recipient")
        verbose_name_plural = _("broadcast recipients")
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "client"], name="broadcast_recipient_once")
        ]
        indexes = [
            models.Index(fields=["broadcast", "status", "id"], name="broadcast_recipient_status")
        ]

    def __str__(self) -> str:
        return f"{self.client} in {self.broadcast_id}"


class ClientTopic(models.Model):
    """A client's topic in the bot's operators' forum group. The thread id is empty
    until Telegram created it, and again after someone deleted it (it is made anew when
    something is next sent to it)."""

    bot = models.ForeignKey(TelegramBot, on_delete=models.CASCADE, related_name="topics")
    client = models.ForeignKey(
        "chats.Client", on_delete=models.CASCADE, related_name="+", verbose_name=_("client")
    )
    # the forum group it lives in (a changed group id means a new topic)
    group_id = models.BigIntegerField(_("group"))
    message_thread_id = models.BigIntegerField(_("topic id"), null=True, blank=True)
    name = models.CharField(_("name"), max_length=128)
    # the pinned card (customer, dialog link, markers, form answers): its text is kept
    # so a topic made anew gets it again
    card_text = models.TextField(blank=True)
    card_message_id = models.BigIntegerField(null=True, blank=True)
    # the request the topic shows now (its card, its /close)
    request = models.ForeignKey(
        "handoff.Request", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(_("keyword said"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("client topic")
        verbose_name_plural = _("client topics")
        constraints = [
            models.UniqueConstraint(fields=["bot", "client"], name="client_topic_once"),
        ]
        indexes = [
            models.Index(
                fields=["bot", "group_id", "message_thread_id"], name="client_topic_thread"
            )
        ]

    def __str__(self) -> str:
        return self.name


class TopicLink(models.Model):
    """A message relayed between a client's chat and their topic: the two Telegram
    message ids (the second filled when it was sent), so an edit on one side edits the
    other. `message` is the stored chats.Message when there is one."""

    topic = models.ForeignKey(ClientTopic, on_delete=models.CASCADE, related_name="links")
    # True: from the client to the topic; False: from the topic to the client
    inbound = models.BooleanField()
    client_message_id = models.BigIntegerField(null=True, blank=True)
    group_message_id = models.BigIntegerField(null=True, blank=True)
    message = models.ForeignKey(
        "chats.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("relayed topic message")
        verbose_name_plural = _("relayed topic messages")
        indexes = [
            models.Index(fields=["topic", "client_message_id"], name="topic_link_client"),
            models.Index(fields=["topic", "group_message_id"], name="topic_link_group"),
        ]

    def __str__(self) -> str:
        return f"{self.client_message_id} ↔ {self.group_message_id}"
