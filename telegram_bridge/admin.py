"""Admin: connect a chat's bot (the token is checked with getMe and never shown), set its
webhook, see group-notice errors; create operator connect links; see who is connected."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from chats.views import public_base_url
from telegram_bridge.models import (
    ClientTopic,
    ConnectLink,
    OperatorAccount,
    OutboundMessage,
    TelegramBot,
    TelegramUpdate,
)
from telegram_bridge.services.bots import BotRefused, bot_token_check, bot_webhook_set, webhook_url
from telegram_bridge.services.proxy import proxy_base_urls


class TelegramBotForm(forms.ModelForm):
    token = forms.CharField(
        label=_("token"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "From @BotFather. Checked with Telegram on save; never shown again. "
            "Leave empty to keep the current one."
        ),
    )

    class Meta:
        model = TelegramBot
        fields = [
            "chat",
            "token",
            "notice_group_id",
            "forum_group_id",
            "internal_prefix",
            "keywords_required",
            "activation_keywords",
            "copy_parallel_bot",
        ]

    def clean_forum_group_id(self) -> int | None:
        group_id = self.cleaned_data.get("forum_group_id")
        if group_id is not None and not str(group_id).startswith("-100"):
            raise forms.ValidationError(
                _("A forum group is a supergroup: its id starts with -100 (send /groupid in it).")
            )
        return group_id

    def clean_internal_prefix(self) -> str:
        prefix = (self.cleaned_data.get("internal_prefix") or "").strip()
        if prefix and "/close".startswith(prefix):  # /close would stay in the group
            raise forms.ValidationError(
                _("This prefix would keep /close in the group; choose another.")
            )
        return prefix

    def clean_activation_keywords(self) -> str:
        raw = self.cleaned_data.get("activation_keywords") or ""
        keywords = [keyword.strip() for keyword in raw.split(",") if keyword.strip()]
        if len(keywords) > 20 or any(len(keyword) > 64 for keyword in keywords):
            raise forms.ValidationError(_("At most 20 keywords of up to 64 characters each."))
        if self.cleaned_data.get("keywords_required") and not keywords:
            raise forms.ValidationError(_("Give at least one keyword, or relay without them."))
        return ", ".join(keywords)

    def clean_token(self) -> str:
        token = self.cleaned_data.get("token", "")
        if not token:
            if self.instance.pk:
                return self.instance.token
            raise forms.ValidationError(_("A bot needs its token."))
        try:
            self.checked = bot_token_check(token=token)
        except BotRefused as refusal:
            raise forms.ValidationError(str(refusal)) from None
        return token

    def save(self, commit: bool = True) -> TelegramBot:
        bot = super().save(commit=False)
        checked = getattr(self, "checked", None)
        if checked is not None:
            bot.telegram_id, bot.username = checked
        if commit:
            bot.save()
        return bot


@admin.register(TelegramBot)
class TelegramBotAdmin(admin.ModelAdmin):
    form = TelegramBotForm
    list_display = ("__str__", "chat", "webhook_state", "notice_group_state")
    readonly_fields = (
        "username",
        "telegram_id",
        "webhook_address",
        "webhook_set_at",
        "webhook_error",
        "notice_group_error",
        "notice_group_error_at",
        "forum_group_error",
        "parallel_bot_addresses",
        "parallel_webhook_url",
    )
    actions = ["set_webhook"]

    def get_fields(self, request, obj=None):
        fields = list(TelegramBotForm.Meta.fields)
        return fields + list(self.readonly_fields) if obj else fields

    @admin.display(description=_("webhook"))
    def webhook_state(self, bot: TelegramBot) -> str:
        if bot.webhook_error:
            return format_html('<span class="baton-error">{}</span>', bot.webhook_error)
        if bot.webhook_set_at is None:
            return _("not set")
        return bot.webhook_set_at.strftime("%Y-%m-%d %H:%M")

    @admin.display(description=_("notice group"))
    def notice_group_state(self, bot: TelegramBot) -> str:
        if bot.notice_group_id is None:
            return "—"
        if bot.notice_group_error:
            return format_html(
                '<span class="baton-error">{}: {}</span>',
                bot.notice_group_id,
                bot.notice_group_error,
            )
        return str(bot.notice_group_id)

    @admin.display(description=_("parallel bot's Bot API addresses"))
    def parallel_bot_addresses(self, bot: TelegramBot) -> str:
        base, files = proxy_base_urls(
            bot=bot, public_url=settings.BATON_PUBLIC_URL or "https://<your host>"
        )
        return format_html(
            "base_url: <code>{}</code><br>base_file_url: <code>{}</code>", base, files
        )

    @admin.display(description=_("webhook address"))
    def webhook_address(self, bot: TelegramBot) -> str:
        return webhook_url(bot=bot, public_url=settings.BATON_PUBLIC_URL or "https://<your host>")

    @admin.action(description=_("Set the webhook of the selected bots"))
    def set_webhook(self, request, queryset) -> None:
        public_url = public_base_url(request)
        for bot in queryset:
            try:
                url = bot_webhook_set(bot=bot, public_url=public_url)
            except BotRefused as refusal:
                self.message_user(request, f"{bot}: {refusal}", messages.ERROR)
            else:
                self.message_user(request, f"{bot}: webhook set to {url}", messages.SUCCESS)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if obj.notice_group_error and "notice_group_id" in form.changed_data:
            type(obj).objects.filter(pk=obj.pk).update(
                notice_group_error="", notice_group_error_at=None
            )

    def changelist_view(self, request, extra_context=None):
        for bot in TelegramBot.objects.exclude(notice_group_error=""):
            self.message_user(
                request,
                _(
                    "%(bot)s cannot post to group %(group)s: %(error)s — add the bot to the "
                    "group (as an admin in a forum) or correct the id. Requests are unaffected."
                )
                % {"bot": bot, "group": bot.notice_group_id, "error": bot.notice_group_error},
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)


class ConnectLinkForm(forms.ModelForm):
    hours = forms.IntegerField(
        label=_("valid for (hours)"), min_value=1, max_value=24 * 30, initial=24
    )

    class Meta:
        model = ConnectLink
        fields = ["bot", "operator"]

    def save(self, commit: bool = True) -> ConnectLink:
        link = super().save(commit=False)
        link.expires_at = timezone.now() + timedelta(hours=self.cleaned_data["hours"])
        if commit:
            link.save()
        return link


@admin.register(ConnectLink)
class ConnectLinkAdmin(admin.ModelAdmin):
    form = ConnectLinkForm
    list_display = ("operator", "bot", "state", "link", "expires_at")
    list_filter = ("bot",)
    readonly_fields = ("link", "state", "expires_at", "used_at", "used_by")

    def get_fields(self, request, obj=None):
        return (
            ["bot", "operator", "link", "state", "expires_at", "used_at"]
            if obj
            else [
                "bot",
                "operator",
                "hours",
            ]
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return False if obj else super().has_change_permission(request, obj)

    @admin.display(description=_("state"))
    def state(self, link: ConnectLink) -> str:
        if link.used_at:
            return _("used")
        if link.expires_at <= timezone.now():
            return _("expired")
        return _("waiting")

    @admin.display(description=_("link to send"))
    def link(self, link: ConnectLink) -> str:
        if link.used_at or link.expires_at <= timezone.now():
            return "—"
        return link.url

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request,
            _("Send this single-use link to %(manager)s: %(url)s")
            % {"manager": obj.operator, "url": obj.url},
            messages.SUCCESS,
        )
        return super().response_add(request, obj, post_url_continue)


@admin.register(OperatorAccount)
class OperatorAccountAdmin(admin.ModelAdmin):
    list_display = ("operator", "bot", "telegram_username", "active", "connected_at")
    list_filter = ("bot", "active")
    fields = ("operator", "bot", "telegram_username", "telegram_name", "active", "connected_at")
    readonly_fields = ("operator", "bot", "telegram_username", "telegram_name", "connected_at")

    def has_add_permission(self, request) -> bool:
        return False  # operators join through connect links


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "bot",
        "telegram_chat_id",
        "method",
        "purpose",
        "status",
        "attempts",
        "created_at",
        "sent_at",
        "error",
    )
    list_filter = ("bot", "status", "purpose")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TelegramUpdate)
class TelegramUpdateAdmin(admin.ModelAdmin):
    """What the webhook received and what became of it: a failed update shows its last
    error and how often it was tried before it was skipped."""

    list_display = (
        "update_id",
        "bot",
        "telegram_chat_id",
        "state",
        "attempts",
        "received_at",
        "processed_at",
        "error",
    )
    list_filter = ("state", "bot")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# broadcasts have an admin module of their own
from telegram_bridge import admin_broadcasts  # noqa: E402, F401


@admin.register(ClientTopic)
class ClientTopicAdmin(admin.ModelAdmin):
    """The clients' topics in the bots' forum groups: which request each shows, whether
    it is closed, and whether the client said a keyword. Read-only: the bridge keeps
    them; deleting one makes the client's next request start a new topic."""

    list_display = ("name", "bot", "message_thread_id", "request", "activated_at", "closed_at")
    list_filter = ("bot",)
    search_fields = ("name",)
    list_select_related = ("bot", "request")
    raw_id_fields = ("client", "request")
    readonly_fields = (
        "bot",
        "client",
        "group_id",
        "message_thread_id",
        "name",
        "card_text",
        "card_message_id",
        "request",
        "activated_at",
        "closed_at",
        "created_at",
    )

    def has_add_permission(self, request) -> bool:
        return False
