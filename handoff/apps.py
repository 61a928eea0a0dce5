from django.apps import AppConfig


class HandoffConfig(AppConfig):
    name = "handoff"
    verbose_name = "Handoff"

    def ready(self) -> None:
        from chats.registries import handoff_entry
        from handoff.services import request_open

        handoff_entry.register(request_open)
