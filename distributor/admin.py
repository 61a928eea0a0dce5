from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from chats.admin import ClientAdmin
from chats.models import Chat, Client
from chats.realtime import user_access_changed_publish
from distributor.enums import RouteTarget
from distributor.models import (
    ChatDistribution,
    Customer,
    CustomerBinding,
    Operator,
    OperatorChannel,
    RoutingRule,
)
from distributor.services import auto_reply_defaults, chat_distribution_for
from distributor.services.auto_replies import chat_distribution_auto_replies_reset
from distributor.services.customers import customer_merge
from distributor.services.routing import operator_channels_prune


def date_text(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


class OperatorForm(forms.ModelForm):
    class Meta:
        model = Operator
        fields = ["user", "display_name", "chats", "max_simultaneous_dialogs"]

    def clean(self):
        cleaned = super().clean()
        # the channels inline is validated after this form, against the chats chosen
        # here (not yet saved): hand them over on the instance both forms share
        chats = cleaned.get("chats")
        self.instance._chats_chosen = None if chats is None else {chat.pk for chat in chats}
        return cleaned


class OperatorChannelFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        operator = self.instance
        served = getattr(operator, "_chats_chosen", None)
        if served is None:
            served = set(operator.chats.values_list("pk", flat=True)) if operator.pk else set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            # a row kept as it was, of a chat taken away above, goes with the chat on
            # save (operator_channels_prune): only a row added or changed is refused
            if form.instance.pk and not form.has_changed():
                continue
            chat = form.cleaned_data.get("chat")
            if chat is not None and chat.pk not in served:
                form.add_error(
                    "chat",
                    _("%(chat)s is not one of the chats this manager serves: add it above.")
                    % {"chat": chat},
                )


class OperatorChannelInline(admin.TabularInline):
    """The channels a manager serves in a chat; no row for a chat = every channel."""

    model = OperatorChannel
    formset = OperatorChannelFormSet
    fields = ["chat", "messenger"]
    extra = 0
    verbose_name_plural = _(
        "channels served (a chat without rows here: every channel of it is served)"
    )


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    form = OperatorForm
    list_display = [
        "display_name",
        "user",
        "presence_shown",
        "max_simultaneous_dialogs",
        "chats_served",
    ]
    list_filter = ["presence"]
    search_fields = ["display_name", "user__username"]
    filter_horizontal = ["chats"]
    fields = [
        "user",
        "display_name",
        "chats",
        "max_simultaneous_dialogs",
        "presence",
        "presence_changed_at",
        "presence_expires_at",
    ]
    # presence is the manager's own (console, Telegram); Admin only shows it
    readonly_fields = ["presence", "presence_changed_at", "presence_expires_at"]
    inlines = [OperatorChannelInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").prefetch_related("chats")

    @admin.display(description=_("presence"), ordering="presence")
    def presence_shown(self, operator: Operator) -> str:
        label = operator.get_presence_display()
        if operator.presence_changed_at is None:
            return str(label)
        return _("%(presence)s since %(when)s") % {
            "presence": label,
            "when": date_text(operator.presence_changed_at),
        }

    @admin.display(description=_("chats served"))
    def chats_served(self, operator: Operator) -> str:
        return ", ".join(chat.name for chat in operator.chats.all())

    # an operator's open consoles re-read their access when chats or the profile change;
    # a profile moved to another user also ends the previous user's consoles
    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        operator_channels_prune(operator=form.instance)
        user_ids = {form.instance.user_id}
        if change and "user" in form.changed_data:
            user_ids.add(form.initial["user"])
        for user_id in sorted(user_ids):
            user_access_changed_publish(user_id=user_id)

    def delete_model(self, request, obj: Operator) -> None:
        super().delete_model(request, obj)
        user_access_changed_publish(user_id=obj.user_id)

    def delete_queryset(self, request, queryset) -> None:
        user_ids = list(queryset.values_list("user_id", flat=True))
        super().delete_queryset(request, queryset)
        for user_id in user_ids:
            user_access_changed_publish(user_id=user_id)


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class OperatorAwareUserAdmin(UserAdmin):
    """Django's user admin, plus: a user deactivated or deleted here loses their open
    consoles at once (they re-read their access)."""

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change:
            user_access_changed_publish(user_id=obj.pk)

    def delete_model(self, request, obj) -> None:
        user_id = obj.pk
        super().delete_model(request, obj)
        user_access_changed_publish(user_id=user_id)

    def delete_queryset(self, request, queryset) -> None:
        user_ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for user_id in user_ids:
            user_access_changed_publish(user_id=user_id)


class CustomerBindingOfCustomerInline(admin.TabularInline):
    """Who this customer is in each chat and messenger (bound by their contact details)."""

    model = CustomerBinding
    fields = ["client_link", "chat", "messenger", "external_id", "bound_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("clients bound to this customer")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("client__chat")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("client"))
    def client_link(self, binding: CustomerBinding) -> str:
        url = reverse("admin:chats_client_change", args=[binding.client_id])
        return format_html('<a href="{}">{}</a>', url, binding.client)

    @admin.display(description=_("chat"))
    def chat(self, binding: CustomerBinding) -> str:
        return str(binding.client.chat)

    @admin.display(description=_("messenger"))
    def messenger(self, binding: CustomerBinding) -> str:
        return binding.client.get_messenger_display()

    @admin.display(description=Client._meta.get_field("external_id").verbose_name)
    def external_id(self, binding: CustomerBinding) -> str:
        return binding.client.external_id


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "phone", "email", "created_at"]
    search_fields = ["name", "phone", "email"]
    inlines = [CustomerBindingOfCustomerInline]
    actions = ["merge_customers"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "phone" in form.base_fields:
            form.base_fields["phone"].help_text = _(
                "With the country code, e.g. +39 06 1234 5678; stored as +390612345678."
            )
        return form

    @admin.action(description=_("Merge the two selected customers"))
    def merge_customers(self, request: HttpRequest, queryset: QuerySet[Customer]):
        """Two records of one person become one: a confirmation page asks which one
        stays; the other's clients move to it, its empty details are filled from the
        other, and the other is deleted."""
        if not self.has_change_permission(request) or not self.has_delete_permission(request):
            raise PermissionDenied
        customers = list(
            queryset.annotate(binding_count=Count("bindings")).order_by("created_at", "pk")
        )
        if len(customers) != 2:
            self.message_user(
                request,
                _("Select exactly two customers to merge (%(count)d selected).")
                % {"count": len(customers)},
                messages.ERROR,
            )
            return None
        survivor_id = request.POST.get("survivor")
        if survivor_id is not None:
            chosen = [c for c in customers if str(c.pk) == survivor_id]
            if not chosen:
                self.message_user(
                    request, _("Choose which of the two customers stays."), messages.ERROR
                )
                return None
            survivor = chosen[0]
            other = next(c for c in customers if c.pk != survivor.pk)
            gone = str(other)
            try:
                customer_merge(survivor=survivor, other=other)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
                return None
            self.message_user(
                request,
                _("%(gone)s was merged into %(survivor)s.") % {"gone": gone, "survivor": survivor},
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Merge two customers"),
            "opts": self.model._meta,
            "customers": customers,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/distributor/customer/merge.html", context)


class CustomerBindingOfClientInline(admin.StackedInline):
    """The customer this client is; a person may correct it (or remove it)."""

    model = CustomerBinding
    fields = ["customer", "bound_at"]
    readonly_fields = ["bound_at"]
    raw_id_fields = ["customer"]
    extra = 0
    max_num = 1


# chats sits below distribution and cannot name customers, so the client pages get
# their customer column and binding here, as the user admin above gets its extras
admin.site.unregister(Client)


@admin.register(Client)
class CustomerAwareClientAdmin(ClientAdmin):
    list_display = ["__str__", "chat", "messenger", "customer", "created_at"]
    list_select_related = ["chat", "customer_binding__customer"]
    inlines = [*ClientAdmin.inlines, CustomerBindingOfClientInline]

    @admin.display(description=_("customer"), ordering="customer_binding__customer")
    def customer(self, client: Client) -> Customer | None:
        binding = getattr(client, "customer_binding", None)
        return binding.customer if binding else None


class RoutingRuleForm(forms.ModelForm):
    class Meta:
        model = RoutingRule
        fields = ["messenger", "target", "managers", "api_bot"]

    def clean(self):
        cleaned = super().clean()
        managers = cleaned.get("managers")
        try:  # the settings this rule belongs to: saved, or being added with it
            chat_id = self.instance.distribution.chat_id
        except ChatDistribution.DoesNotExist:
            chat_id = None
        if managers and chat_id is not None:
            messenger = cleaned.get("messenger")
            serving = set(
                Operator.objects.filter(pk__in=[m.pk for m in managers], chats=chat_id).values_list(
                    "pk", flat=True
                )
            )
            # a manager with channel rows for this chat serves only those channels
            limited = set(
                OperatorChannel.objects.filter(operator__in=serving, chat_id=chat_id).values_list(
                    "operator_id", flat=True
                )
            )
            on_channel = set(
                OperatorChannel.objects.filter(
                    operator__in=serving, chat_id=chat_id, messenger=messenger
                ).values_list("operator_id", flat=True)
            )
            not_serving = [m for m in managers if m.pk not in serving]
            not_on_channel = [m for m in managers if m.pk in limited and m.pk not in on_channel]
            if not_serving:
                self.add_error(
                    "managers",
                    _("Not a manager of this chat: %(names)s.")
                    % {"names": ", ".join(str(m) for m in not_serving)},
                )
            if not_on_channel:
                self.add_error(
                    "managers",
                    _("Does not serve this channel in this chat: %(names)s.")
                    % {"names": ", ".join(str(m) for m in not_on_channel)},
                )
        return cleaned


class RoutingRuleInline(admin.TabularInline):
    """Where each channel of the chat goes. A channel without a rule: the chat's
    scripts answer, and their requests go to every manager serving it."""

    model = RoutingRule
    form = RoutingRuleForm
    fields = ["messenger", "target", "managers", "api_bot"]
    extra = 0
    verbose_name_plural = _(
        "routing rules (a channel without a rule: the chat's scripts, then every manager "
        "serving it)"
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("managers")


class ChatDistributionForm(forms.ModelForm):
    class Meta:
        model = ChatDistribution
        fields = [
            "chat",
            "mode",
            "offer_timeout_seconds",
            *ChatDistribution.AUTO_REPLY_FIELDS,
            "bind_customers",
            "create_customers",
            "phone_region",
        ]
        widgets = {
            field: forms.Textarea(attrs={"rows": 2, "cols": 60})
            for field in ChatDistribution.AUTO_REPLY_FIELDS
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # an empty auto-reply is refused by the model's clean(), with one message naming
        # every empty one (not Django's "This field is required" on each)
        for field in ChatDistribution.AUTO_REPLY_FIELDS:
            if field in self.fields:
                self.fields[field].required = False
        if "create_customers" in self.fields:
            self.fields["create_customers"].help_text = _(
                "Only while binding is on. Off: a client is bound only to a customer "
                "that exists already."
            )
        if "chat" in self.fields:
            self.fields["chat"].queryset = Chat.objects.filter(distribution__isnull=True)


@admin.register(ChatDistribution)
class ChatDistributionAdmin(admin.ModelAdmin):
    """A chat's distribution settings: mode, auto-replies, customer binding and the
    routing rules per channel. Every chat has one (made on first use, or from the chat's
    page), so this is mostly edited, rarely added."""

    form = ChatDistributionForm
    list_display = ["chat", "mode", "rules_summary", "offer_timeout_seconds"]
    list_filter = ["mode", ("chat", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["chat"]
    search_fields = ["chat__name"]
    inlines = [RoutingRuleInline]
    actions = ["reset_auto_replies"]
    fieldsets = [
        (None, {"fields": ["chat", "mode", "offer_timeout_seconds"]}),
        (
            _("Auto-replies (all four are required)"),
            {"fields": list(ChatDistribution.AUTO_REPLY_FIELDS)},
        ),
        (
            _("Customers"),
            {"fields": ["bind_customers", "create_customers", "phone_region"]},
        ),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related("routing_rules__managers", "routing_rules__api_bot")
        )

    def get_readonly_fields(self, request, obj=None):
        return ["chat"] if obj is not None else []

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        """The add page's auto-replies in the chosen chat's language (?chat=<id>), else
        in the admin's language."""
        initial = super().get_changeform_initial_data(request)
        chat_id = str(initial.get("chat", ""))
        chat = Chat.objects.filter(pk=chat_id).first() if chat_id.isdigit() else None
        language = chat.language if chat is not None else (get_language() or "en")
        return {**auto_reply_defaults(language), **initial}

    @admin.display(description=_("routing"))
    def rules_summary(self, distribution: ChatDistribution) -> str:
        rules = sorted(distribution.routing_rules.all(), key=lambda rule: rule.messenger)
        if not rules:
            return gettext("every channel: scripts, then every manager serving it")
        parts = []
        for rule in rules:
            if rule.target == RouteTarget.BOT:
                whom = str(rule.api_bot) if rule.api_bot else gettext("the chat's scripts")
            else:
                names = [str(manager) for manager in rule.managers.all()]
                whom = ", ".join(names) if names else gettext("every serving manager")
            parts.append(f"{rule.get_messenger_display()} → {rule.get_target_display()}: {whom}")
        return "; ".join(parts)

    @admin.action(description=_("Reset the auto-replies to the defaults in the chat's language"))
    def reset_auto_replies(self, request: HttpRequest, queryset: QuerySet[ChatDistribution]):
        if not self.has_change_permission(request):
            raise PermissionDenied
        count = 0
        for distribution in queryset.order_by("pk"):
            chat_distribution_auto_replies_reset(distribution=distribution)
            count += 1
        self.message_user(
            request,
            _("Auto-replies reset in %(count)d chat(s).") % {"count": count},
            messages.SUCCESS,
        )

    def get_urls(self):
        return [
            path(
                "of-chat/<int:chat_id>/",
                self.admin_site.admin_view(self.of_chat_view),
                name="distributor_chatdistribution_of_chat",
            ),
            *super().get_urls(),
        ]

    def of_chat_view(self, request: HttpRequest, chat_id: int) -> HttpResponse:
        """The chat's settings page (the chat admin links here): made first, with the
        defaults in the chat's language, when the chat has none yet."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        chat = get_object_or_404(Chat, pk=chat_id)
        distribution = chat_distribution_for(chat)
        return HttpResponseRedirect(
            reverse("admin:distributor_chatdistribution_change", args=[distribution.pk])
        )


# the API keys' and the webhook deliveries' admin pages live beside this file
from distributor import admin_api_keys, admin_webhooks  # noqa: E402, F401
