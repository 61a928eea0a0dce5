from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from chats.admin import ClientAdmin
from chats.models import Client
from chats.realtime import user_access_changed_publish
from distributor.models import Customer, CustomerBinding, Operator


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "max_simultaneous_dialogs"]
    search_fields = ["display_name", "user__username"]
    filter_horizontal = ["chats"]

    # an operator's open consoles re-read their access when chats or the profile change;
    # a profile moved to another user also ends the previous user's consoles
    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
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


# the API keys' and the webhook deliveries' admin pages live beside this file
from distributor import admin_api_keys, admin_webhooks  # noqa: E402, F401
