from django.apps import AppConfig


class TelegramBridgeConfig(AppConfig):
    name = "telegram_bridge"
    verbose_name = "Telegram"

    def ready(self) -> None:
        from chats.enums import Messenger
        from chats.registries import outbound_channels
        from handoff.registries import operator_surfaces
        from telegram_bridge.services.clients import TelegramChannel
        from telegram_bridge.services.managers import TelegramSurface

        outbound_channels.register(Messenger.TELEGRAM, TelegramChannel())
        operator_surfaces.register(TelegramSurface())
