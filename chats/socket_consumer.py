"""The base of Baton's websocket consumers."""

from __future__ import annotations

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer


class SocketConsumer(AsyncWebsocketConsumer):
    """An AsyncWebsocketConsumer whose dispatch does not visit the database thread.

    Channels' dispatch awaits `aclose_old_connections()` before every frame and every
    channel-layer event: a hop to the process's one database thread, queued behind
    whatever database work the other sockets wait for, for each event of each socket
    (an inbox row, a message, a request change), though the handler may not touch the
    database at all. Our consumers reach the database only through
    database_sync_to_async / chats.realtime.database_call, which close old connections
    before and after every call, so the hop is redundant here."""

    async def dispatch(self, message: dict) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
