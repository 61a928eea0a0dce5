"""The base of Baton's websocket consumers (the widget's and the operator console's)."""

from __future__ import annotations

import logging

from autobahn.exception import Disconnected
from channels.generic.websocket import AsyncWebsocketConsumer

logger = logging.getLogger(__name__)


class HangUpSafeConsumer(AsyncWebsocketConsumer):
    """A consumer whose sends after the client hung up are dropped, not raised.

    Between the client's close frame and the websocket.disconnect that follows it,
    Daphne raises autobahn's Disconnected on every send (other ASGI servers raise an
    OSError). Raised inside a handler, that ended the consumer with an exception before
    its disconnect ran, so its groups stayed subscribed in Redis for the life of the
    process. Dropped here, the handler finishes and the queued disconnect runs."""

    hung_up = False

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
