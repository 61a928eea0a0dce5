from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HandoffConfig(AppConfig):
    name = "handoff"
    verbose_name = _("Handoff")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from chats.registries import handoff_entry
        from handoff.access import access_changed_on_logout
        from handoff.services.entry import HandoffEntryPoint

        handoff_entry.register(HandoffEntryPoint())
        # a logout anywhere (console, admin) ends that session's open console
        user_logged_out.connect(access_changed_on_logout, dispatch_uid="handoff.console_logout")
