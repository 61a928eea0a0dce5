from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelegramBridgeConfig(AppConfig):
    name = "telegram_bridge"
    verbose_name = _("Telegram")

    def ready(self) -> None:
        from chats.enums import Messenger
        from chats.registries import outbound_channels
        from handoff.registries import operator_surfaces
        from telegram_bridge.services.clients import TelegramChannel
        from telegram_bridge.services.group import GroupSurface
        from telegram_bridge.services.operators import TelegramSurface

        outbound_channels.register(Messenger.TELEGRAM, TelegramChannel())
        operator_surfaces.register(TelegramSurface())
        operator_surfaces.register(GroupSurface())
