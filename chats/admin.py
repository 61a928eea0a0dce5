from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from chats.contrast import AA_NORMAL_TEXT, widget_contrast_shortfalls
from chats.models import (
    Chat,
    Client,
    Dialog,
    MarkerHit,
    Message,
    MessagePrice,
    MessengerLink,
    PageVisit,
    Script,
    Step,
    StepButton,
)
from chats.selectors import chat_deletion_summary
from chats.services.billing import message_price_save, message_prices_delete, message_prices_lock
from chats.views import frame_code, public_base_url

# the site's name in the admin's header and tab titles (not "Django administration")
admin.site.site_header = _("Baton administration")
admin.site.site_title = _("Baton admin")
admin.site.index_title = _("Chats, operators and handoff")


class MessengerLinkInline(admin.TabularInline):
    model = MessengerLink
    extra = 0


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ["name", "language", "public_key", "actions_column"]
    search_fields = ["name", "public_key"]
    inlines = [MessengerLinkInline]
    readonly_fields = ["public_key", "distribution_link"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "public_key",
                    "language",
                    "reply_to_first_message",
                    "knowledge_base_url",
                    "headset_mode",
                    "allowed_sites",
                    "distribution_link",
                ]
            },
        ),
        (
            _("Scripts after the end"),
            {"fields": ["script_after_bot_end"]},
        ),
        (
            _("Look"),
            {
                "fields": [
                    "bot_color",
                    "operator_color",
                    "user_color",
                    "button_color",
                    "button_text_color",
                    "bot_avatar",
                    "operator_avatar",
                    "user_avatar",
                ]
            },
        ),
    ]

    def save_model(self, request, obj: Chat, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # hard-to-read colours are the owner's choice (a brand colour): said, not refused
        for shortfall in widget_contrast_shortfalls(
            bot_color=obj.bot_color,
            operator_color=obj.operator_color,
            user_color=obj.user_color,
            button_color=obj.button_color,
            button_text_color=obj.button_text_color,
        ):
            self.message_user(
                request,
                _(
                    "Hard to read in the widget: %(what)s has a contrast of %(ratio)s:1; "
                    "text needs at least %(minimum)s:1 (WCAG AA)."
                )
                % {
                    "what": shortfall.what,
                    "ratio": f"{shortfall.ratio:.2f}",
                    "minimum": AA_NORMAL_TEXT,
                },
                messages.WARNING,
            )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "script_after_bot_end" in form.base_fields:
            queryset = Script.objects.filter(chat=obj) if obj else Script.objects.none()
            form.base_fields["script_after_bot_end"].queryset = queryset
        return form

    @admin.display(description=_("actions"))
    def actions_column(self, chat: Chat) -> str:
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a> · <a href="{}">{}</a> · '
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            reverse("admin:chats_chat_frame_code", args=[chat.pk]),
            _("frame code"),
            # the analysts' dialog viewer (reports), filtered by this chat
            reverse("reports:dialog_list") + f"?chat={chat.pk}",
            _("view dialogs"),
            reverse("demo_chat", args=[chat.public_key]),
            _("preview"),
            reverse("admin:chats_chat_change", args=[chat.pk]),
            _("edit"),
            reverse("admin:chats_chat_delete", args=[chat.pk]),
            _("delete"),
        )

    @admin.display(description=_("distribution"))
    def distribution_link(self, chat: Chat) -> str:
        # managers, routing and auto-replies are distributor's (above chats): its admin
        # page by URL name, as the dialog viewer's link above, not an import
        if chat.pk is None:
            return _("Save the chat first.")
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:distributor_chatdistribution_of_chat", args=[chat.pk]),
            _("managers, routing, auto-replies and customer binding"),
        )

    def get_urls(self):
        return [
            path(
                "<int:chat_id>/frame-code/",
                self.admin_site.admin_view(self.frame_code_view),
                name="chats_chat_frame_code",
            ),
            *super().get_urls(),
        ]

    def frame_code_view(self, request: HttpRequest, chat_id: int) -> HttpResponse:
        chat = get_object_or_404(Chat, pk=chat_id)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Frame code of %(chat)s") % {"chat": chat.name},
            "chat": chat,
            "opts": self.model._meta,
            "snippet": frame_code(chat=chat, base_url=public_base_url(request)),
            # a variable, so that it is escaped and shows as text in the instruction
            "closing_tag": "</body>",
        }
        return TemplateResponse(request, "admin/chats/chat/frame_code.html", context)

    def get_deleted_objects(self, objs, request):
        """Say what goes with a chat in counts, without listing every message."""
        to_delete, model_count, perms_needed, protected = [], {}, set(), []
        for chat in objs:
            summary = chat_deletion_summary(chat=chat)
            to_delete.append(
                _(
                    "Chat “%(name)s” with %(scripts)d scripts, %(clients)d clients, "
                    "%(dialogs)d dialogs and %(messages)d messages, and their markers, page "
                    "visits, feedback and handoff requests."
                )
                % {"name": chat.name, **summary}
            )
            for key, value in summary.items():
                model_count[key] = model_count.get(key, 0) + value
        if not self.has_delete_permission(request):
            perms_needed.add(self.model._meta.verbose_name)
        return to_delete, model_count, perms_needed, protected


class StepInline(admin.StackedInline):
    model = Step
    extra = 0
    show_change_link = True
    fields = ["position", "text", "marker", "connect_operator"]


@admin.register(Script)
class ScriptAdmin(admin.ModelAdmin):
    list_display = ["name", "chat", "kind"]
    list_filter = ["chat", "kind"]
    search_fields = ["name", "keywords"]
    inlines = [StepInline]


class StepButtonInline(admin.TabularInline):
    model = StepButton
    fk_name = "step"
    extra = 0

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "target_script":
            step_id = request.resolver_match.kwargs.get("object_id")
            step = Step.objects.filter(pk=step_id).select_related("script").first()
            if step is not None:
                kwargs["queryset"] = Script.objects.filter(chat_id=step.script.chat_id)
            field = super().formfield_for_foreignkey(db_field, request, **kwargs)
            if step is not None:
                # all of one chat: its name before each script is noise in a narrow column
                field.label_from_instance = lambda script: script.name
            return field
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["__str__", "script", "marker", "connect_operator"]
    list_filter = ["script__chat"]
    inlines = [StepButtonInline]

    class Media:
        css = {"all": ["admin/step_buttons.css"]}


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["__str__", "chat", "messenger", "created_at"]
    list_filter = ["chat", "messenger"]
    search_fields = ["external_id", "name"]
    # who wrote in, where and when is the channel's record; a name is what a person may
    # correct (and the customer binding, which distributor's admin adds to this page)
    fields = ["chat", "messenger", "external_id", "name", "created_at"]
    readonly_fields = ["chat", "messenger", "external_id", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False  # clients appear when they write in


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["sequence", "created_at", "author_kind", "author_name", "text"]


class MarkerHitInline(ReadOnlyInline):
    model = MarkerHit


class PageVisitInline(ReadOnlyInline):
    model = PageVisit


@admin.register(Dialog)
class DialogAdmin(admin.ModelAdmin):
    """A record of what happened: every field is written by the services (status,
    sequence and the counters the bot and the trigger rely on), none by hand."""

    list_display = ["session_id", "chat", "messenger", "status", "started_at", "client"]
    list_filter = ["chat", "messenger", "status"]
    search_fields = ["session_id", "client__external_id"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "session_id",
        "chat",
        "client",
        "messenger",
        "status",
        "started_at",
        "closed_at",
        "last_message_at",
        "cost",
        "last_sequence",
        "client_message_count",
        "fallback_count",
        "headset_revealed",
    ]
    inlines = [MessageInline, MarkerHitInline, PageVisitInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


LINE_BREAK = mark_safe("<br>")  # noqa: S308 - a constant tag between escaped items


def buttons_html(buttons: list) -> str:
    """A message's buttons as a list of labels (and where a link leads), escaped."""
    items = [button for button in buttons if isinstance(button, dict)]
    if not items:
        return "—"
    return format_html_join(
        LINE_BREAK,
        "{}{}",
        (
            (
                str(button.get("label", "")),
                format_html(" → {}", button["url"]) if button.get("url") else "",
            )
            for button in items
        ),
    )


def attachments_html(attachments: list) -> str:
    """A message's files as their names (linked where there is an address), escaped."""
    items = [attachment for attachment in attachments if isinstance(attachment, dict)]
    if not items:
        return "—"
    return format_html_join(
        LINE_BREAK,
        "{}",
        ((_attachment_link(attachment),) for attachment in items),
    )


def _attachment_link(attachment: dict) -> str:
    name = str(attachment.get("file_name") or attachment.get("kind") or _("file"))
    url = str(attachment.get("url", ""))
    # only our own paths ("/" then neither "/" nor "\\", which browsers read as "//",
    # another host) and web addresses become links (never javascript: and such);
    # browsers drop tabs and newlines inside a URL, so any control character refuses
    own_path = len(url) > 1 and url[0] == "/" and url[1] not in "/\\"
    web = url.startswith(("https://", "http://"))
    if (own_path or web) and not any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        return format_html('<a href="{}">{}</a>', url, name)
    return name


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["dialog", "sequence", "author_kind", "author_name", "created_at"]
    list_filter = ["author_kind", "dialog__chat"]
    search_fields = ["text", "dialog__session_id"]
    raw_id_fields = ["dialog"]
    fields = [
        "dialog",
        "sequence",
        "author_kind",
        "author_name",
        "text",
        "button_list",
        "attachment_list",
        "created_at",
        "channel_message_id",
        "client_msg_id",
    ]
    readonly_fields = ["button_list", "attachment_list"]

    @admin.display(description=_("buttons"))
    def button_list(self, message: Message) -> str:
        return buttons_html(message.buttons)

    @admin.display(description=_("attachments"))
    def attachment_list(self, message: Message) -> str:
        return attachments_html(message.attachments)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class MessagePriceForm(forms.ModelForm):
    class Meta:
        model = MessagePrice
        fields = ["messenger", "direction", "price", "valid_from", "valid_until"]

    def clean(self):
        # the admin's change view is one transaction: from here to the save no other
        # price of any channel is written, so the overlap check (the model's clean,
        # which runs after this) still holds when the row is saved
        if connection.in_atomic_block:
            message_prices_lock()
        return super().clean()


class PricePeriodFilter(admin.SimpleListFilter):
    title = _("period")
    parameter_name = "period"

    def lookups(self, request, model_admin):
        return [
            ("current", _("in force now")),
            ("future", _("starts later")),
            ("past", _("ended")),
        ]

    def queryset(self, request, queryset: QuerySet[MessagePrice]):
        now = timezone.now()
        if self.value() == "current":
            return queryset.filter(valid_from__lte=now).filter(
                Q(valid_until__isnull=True) | Q(valid_until__gt=now)
            )
        if self.value() == "future":
            return queryset.filter(valid_from__gt=now)
        if self.value() == "past":
            return queryset.filter(valid_until__lte=now)
        return queryset


@admin.register(MessagePrice)
class MessagePriceAdmin(admin.ModelAdmin):
    """Prices per message, channel and direction. Saving or deleting one recomputes
    the cost of the dialogs with messages in its periods (old and new) in the
    background (chats.services.billing)."""

    form = MessagePriceForm
    list_display = ["messenger", "direction", "price", "valid_from", "valid_until"]
    list_filter = ["messenger", "direction", PricePeriodFilter]
    date_hierarchy = "valid_from"
    ordering = ["messenger", "direction", "-valid_from"]

    def save_model(self, request, obj: MessagePrice, form, change: bool) -> None:
        message_price_save(price=obj)
        self._recomputing(request)

    def delete_model(self, request, obj: MessagePrice) -> None:
        message_prices_delete(prices=[obj])
        self._recomputing(request)

    def delete_queryset(self, request, queryset: QuerySet[MessagePrice]) -> None:
        if message_prices_delete(prices=list(queryset)):
            self._recomputing(request)

    def _recomputing(self, request) -> None:
        self.message_user(
            request,
            _(
                "The cost of the dialogs with messages in this price's period is being "
                "recomputed in the background."
            ),
            messages.INFO,
        )
