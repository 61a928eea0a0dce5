"""The two places where chats reaches apps above it without importing them.

- `handoff_entry`: the bot engine's connect-operator mark and the widget's headset
  ask the handoff app (registered in HandoffConfig.ready) to open a request.
- `outbound_channels`: a message written to a dialog on a non-web messenger is handed
  to the app that owns that messenger (telegram_bridge registers Telegram).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chats.models import Dialog, Message


class HandoffUnavailable(Exception):
    """No handoff app is installed, so nobody can take the request."""


class HandoffEntry:
    def __init__(self) -> None:
        self._open_request: Callable[..., object] | None = None

    def register(self, open_request: Callable[..., object]) -> None:
        self._open_request = open_request

    def open_request(self, *, dialog: Dialog, reason: str) -> object:
        if self._open_request is None:
            raise HandoffUnavailable("no handoff app registered")
        return self._open_request(dialog=dialog, reason=reason)


class OutboundChannels:
    def __init__(self) -> None:
        self._deliverers: dict[str, Callable[[Message], None]] = {}

    def register(self, messenger: str, deliver: Callable[[Message], None]) -> None:
        self._deliverers[messenger] = deliver

    def deliverer_for(self, messenger: str) -> Callable[[Message], None] | None:
        return self._deliverers.get(messenger)


handoff_entry = HandoffEntry()
outbound_channels = OutboundChannels()
