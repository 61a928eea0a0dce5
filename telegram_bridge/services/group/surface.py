"""The backend group as an operator surface (handoff.registries.operator_surfaces)."""

from __future__ import annotations

from django.utils.translation import override

from chats.models import Message
from handoff.models import Request
from telegram_bridge.services.clients.sending import bot_of_chat
from telegram_bridge.services.group.topics import topic_client_message, topic_request_changed


class GroupSurface:
    # the chat's bot, loaded with the request (a JOIN), so a web visitor's message costs
    # no bot lookup here
    request_related = ("chat__telegram_bot",)
    chat_related = ("telegram_bot",)

    def request_changed(self, request: Request) -> None:
        chat = request.chat if Request.chat.is_cached(request) else None
        bot = bot_of_chat(request.chat_id, chat=chat)
        if bot is None or not bot.forum_group_id:
            return
        with override(request.chat.language):
            topic_request_changed(bot=bot, request=request)

    def client_message(self, request: Request, message: Message) -> None:
        chat = request.chat if Request.chat.is_cached(request) else None
        bot = bot_of_chat(request.chat_id, chat=chat)
        if bot is None or not bot.forum_group_id:
            return
        topic_client_message(bot=bot, request=request, message=message)
