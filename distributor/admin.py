from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from chats.realtime import user_access_changed_publish
from distributor.models import Manager


@admin.register(Manager)
class ManagerAdmin(admin.ModelAdmin):
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

    def delete_model(self, request, obj: Manager) -> None:
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
