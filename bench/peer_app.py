"""The peer in bench/relay.py: the Channels tutorial's chat room
(https://channels.readthedocs.io/en/stable/tutorial/part_3.html), served by Daphne
with bench/peer_settings.py. Every frame received is group_sent to the room's group
over the Redis channel layer and every member (the sender included) gets it; nothing
is stored. The tutorial's AuthMiddlewareStack is left out (no sessions, no database).

    DJANGO_SETTINGS_MODULE=bench.peer_settings REDIS_URL=... \\
        python -m daphne -b 127.0.0.1 -p PORT bench.peer_app:application
"""

from __future__ import annotations

import json
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer_settings")
get_asgi_application()  # django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code: int) -> None:
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = json.loads(text_data)["message"]
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    async def chat_message(self, event: dict) -> None:
        await self.send(text_data=json.dumps({"message": event["message"]}))


application = ProtocolTypeRouter(
    {
        "websocket": AllowedHostsOriginValidator(
            URLRouter([path("ws/chat/<str:room_name>/", ChatConsumer.as_asgi())])
        ),
    }
)
