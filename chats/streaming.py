"""Sending one dialog's messages down a websocket in sequence order, each once.

The consumer remembers the last sequence it sent and only ever sends the next one;
an event that skips ahead makes it read the gap from the database, so a dropped
channel-layer event costs a query, never a message. Used by the widget and by the
operator console."""

from __future__ import annotations

from channels.db import database_sync_to_async

from chats import selectors


class DialogStreamMixin:
    stream_dialog_id: int | None = None
    last_sent: int = 0

    async def send_json(self, frame: dict) -> None:  # provided by the consumer
        raise NotImplementedError

    async def deliver(self, payload: dict) -> None:
        sequence = payload["sequence"]
        if sequence <= self.last_sent:
            return
        if sequence > self.last_sent + 1:
            await self.catch_up(until=sequence - 1)
            if sequence <= self.last_sent:
                return
        self.last_sent = sequence
        await self.send_json({"type": "message", "message": payload})

    async def catch_up(self, until: int | None = None) -> None:
        """Send what the database holds beyond the last sequence sent."""
        if self.stream_dialog_id is None:
            return
        while True:
            batch = await database_sync_to_async(selectors.messages_after)(
                dialog_id=self.stream_dialog_id, sequence=self.last_sent
            )
            for payload in batch:
                if until is not None and payload["sequence"] > until:
                    return
                self.last_sent = payload["sequence"]
                await self.send_json({"type": "message", "message": payload})
            if len(batch) < selectors.RESUME_BATCH:
                return

    async def dialog_message(self, event: dict) -> None:
        if self.stream_dialog_id is not None:
            await self.deliver(event["message"])
