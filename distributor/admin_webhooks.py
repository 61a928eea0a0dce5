"""Admin pages of API bots and their webhook deliveries: the dead-letter list (status
dead) and its replay."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from chats.enums import DialogStatus
from distributor.enums import DeliveryStatus
from distributor.models import ApiBot, WebhookDelivery
from distributor.services.webhooks import (
    webhook_delivery_replay,
    webhook_delivery_send,
    webhook_url_check,
)

# a replay sends this many at once in the admin's request (each up to a 5 s attempt);
# the rest are left due for the beat sweep
REPLAY_AT_ONCE = 20


class DeadLetterFilter(admin.SimpleListFilter):
    title = _("dead letters")
    parameter_name = "dead"

    def lookups(self, request, model_admin):
        return [("yes", _("dead (gave up)")), ("no", _("not dead"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=DeliveryStatus.DEAD)
        if self.value() == "no":
            return queryset.exclude(status=DeliveryStatus.DEAD)
        return queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "event",
        "bot",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "delivered_at",
        "last_error",
    ]
    list_filter = [DeadLetterFilter, "status", "bot", "event"]
    list_select_related = ["bot"]
    search_fields = ["event_id", "event", "last_error"]
    date_hierarchy = "created_at"
    actions = ["replay"]
    fields = [
        "bot",
        "event",
        "event_id",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "delivered_at",
        "last_error",
        "payload_shown",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=_("payload"))
    def payload_shown(self, delivery: WebhookDelivery) -> str:
        # the body as the bot gets it (before signing), indented to be read
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre>',
            json.dumps(delivery.payload, indent=2, ensure_ascii=False),
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # what was sent is a record; only the replay action acts on it

    def has_replay_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(
        description=_("Replay the selected deliveries (send again now)"), permissions=["replay"]
    )
    def replay(self, request, queryset) -> None:
        delivered = failed = waiting = 0
        for number, delivery in enumerate(queryset.order_by("pk")):
            webhook_delivery_replay(delivery=delivery)
            if number >= REPLAY_AT_ONCE:
                waiting += 1
                continue
            sent = webhook_delivery_send(delivery_id=delivery.pk, force=True)
            if sent is None:
                waiting += 1
            elif sent.status == DeliveryStatus.DELIVERED:
                delivered += 1
            else:
                failed += 1
        if delivered:
            self.message_user(
                request,
                ngettext("%d delivery delivered.", "%d deliveries delivered.", delivered)
                % delivered,
                messages.SUCCESS,
            )
        if failed:
            self.message_user(
                request,
                ngettext(
                    "%d delivery failed again; it is retried with backoff.",
                    "%d deliveries failed again; they are retried with backoff.",
                    failed,
                )
                % failed,
                messages.WARNING,
            )
        if waiting:
            self.message_user(
                request,
                ngettext(
                    "%d delivery is pending: it is sent after the earlier ones of its dialog.",
                    "%d deliveries are pending: each is sent after the earlier ones of its dialog.",
                    waiting,
                )
                % waiting,
                messages.INFO,
            )


class ApiBotForm(forms.ModelForm):
    class Meta:
        model = ApiBot
        fields = ["name", "webhook_url", "capacity", "is_active"]

    def clean_webhook_url(self) -> str:
        return webhook_url_check(self.cleaned_data["webhook_url"])


NOT_CLOSED = [status for status in DialogStatus.values if status != DialogStatus.CLOSED]


@admin.register(ApiBot)
class ApiBotAdmin(admin.ModelAdmin):
    """API bots register through the API; here an admin sees them, changes their
    capacity, webhook or whether they take new dialogs, and follows their deliveries."""

    list_display = [
        "name",
        "is_active",
        "capacity",
        "held",
        "webhook_url",
        "pending_deliveries",
        "dead_deliveries",
        "created_at",
    ]
    list_filter = ["is_active"]
    form = ApiBotForm
    search_fields = ["name", "webhook_url"]
    list_editable = ["is_active", "capacity"]
    fields = ["name", "api_key", "webhook_url", "capacity", "is_active", "created_at", "links"]
    readonly_fields = ["api_key", "created_at", "links"]

    def has_add_permission(self, request) -> bool:
        return False  # registered through the API, which hands the bot its key and secret

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                # the rule of api_bots.held_count: held, and the dialog not closed
                held_count=Count(
                    "assignments",
                    filter=Q(
                        assignments__released_at__isnull=True,
                        assignments__dialog__status__in=NOT_CLOSED,
                    ),
                    distinct=True,
                ),
                pending_count=Count(
                    "deliveries",
                    filter=Q(deliveries__status=DeliveryStatus.PENDING),
                    distinct=True,
                ),
                dead_count=Count(
                    "deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD), distinct=True
                ),
            )
        )

    @admin.display(description=_("dialogs held"), ordering="held_count")
    def held(self, bot: ApiBot) -> int:
        return bot.held_count

    @admin.display(description=_("pending deliveries"), ordering="pending_count")
    def pending_deliveries(self, bot: ApiBot) -> int:
        return bot.pending_count

    @admin.display(description=_("dead deliveries"), ordering="dead_count")
    def dead_deliveries(self, bot: ApiBot) -> str:
        if not bot.dead_count:
            return "0"
        url = reverse("admin:distributor_webhookdelivery_changelist")
        return format_html(
            '<a href="{}">{}</a>', f"{url}?bot__id__exact={bot.pk}&dead=yes", bot.dead_count
        )

    @admin.display(description=_("deliveries"))
    def links(self, bot: ApiBot) -> str:
        url = reverse("admin:distributor_webhookdelivery_changelist")
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            f"{url}?bot__id__exact={bot.pk}",
            _("all deliveries"),
            f"{url}?bot__id__exact={bot.pk}&dead=yes",
            _("dead letters"),
        )
