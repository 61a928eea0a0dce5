from django.contrib import admin

from distributor.models import Manager


@admin.register(Manager)
class ManagerAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "max_simultaneous_dialogs"]
    search_fields = ["display_name", "user__username"]
    filter_horizontal = ["chats"]
