"""The base of Baton's websocket consumers (the widget's and the operator console's)."""

from __future__ import annotations

import logging

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

logger = logging.getLogger(__name__)


class SocketConsumer(AsyncWebsocketConsumer):
    """An AsyncWebsocketConsumer that drops its sends once the client hung up and whose
    dispatch does not visit the database thread.

    Sends: between the client's close frame and the websocket.disconnect that follows
    it, Daphne raises autobahn's Disconnected on every send (other ASGI servers raise an
    OSError). Raised inside a handler, that ended the consumer with an exception before
    its disconnect ran, so its groups stayed subscribed in Redis for the life of the
    process. Dropped here, the handler finishes and the queued disconnect runs.

    Dispatch: Channels awaits `aclose_old_connections()` before every frame and every
    channel-layer event, a hop to the process's one database thread queued behind the
    database work other sockets wait for, though the handler may not touch the
    database at all. Our consumers reach the database only through
    database_sync_to_async / chats.realtime.database_call, which close old connections
    before and after every call, so the hop is redundant here."""

    hung_up = False

    async def dispatch(self, message: dict) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        if self.hung_up:
            return
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except (Disconnected, OSError):
            self.hung_up = True
            logger.debug("client hung up; frames for it are dropped until its disconnect")
