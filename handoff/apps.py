from django.apps import AppConfig


class HandoffConfig(AppConfig):
    name = "handoff"
    verbose_name = "Handoff"

    def ready(self) -> None:
        from chats.registries import handoff_entry
        from handoff.services.entry import HandoffEntryPoint

        handoff_entry.register(HandoffEntryPoint())
