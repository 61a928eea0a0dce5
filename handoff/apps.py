from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HandoffConfig(AppConfig):
    name = "handoff"
    verbose_name = _("Handoff")

    def ready(self) -> None:
        from chats.registries import handoff_entry
        from handoff.services.entry import HandoffEntryPoint

        handoff_entry.register(HandoffEntryPoint())
