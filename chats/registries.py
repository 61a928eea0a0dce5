"""The two places where chats reaches apps above it without importing them.

- `handoff_entry`: the calls chats' own services make up to the handoff app
  (registered in HandoffConfig.ready), inside the transaction they run: whether the
  chat's scripts answer a dialog (its channel may be routed to managers or to an API
  bot), the bot engine's connect-operator mark opens a request, and every stored
  client message (web and Telegram alike) is noted (the trigger, the open request's
  deadlines, routing to managers, the API bot's webhook).
  The surfaces (the widget's socket, Telegram) sit above handoff and call its
  services directly for everything else: the headset, forms, close, rating.
- `outbound_channels`: a message written to a dialog on a non-web messenger is handed
  to the app that owns that messenger (telegram_bridge registers Telegram), inside
  the transaction that writes it, so the channel records what to send atomically
  with the message and sends after commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chats.models import Dialog, Message


class HandoffUnavailable(Exception):
    """No handoff app is installed, so nobody can take the request."""


class HandoffHandler(Protocol):
    """client_wrote stays a hook rather than a call each surface makes after posting:
    it must be atomic with the message it notes, and the widget's messages are stored
    by chats' group commit, several to a transaction, where no surface can add to it."""

    def scripts_answer(self, *, dialog: Dialog) -> bool: ...

    def open_request(self, *, dialog: Dialog, reason: str) -> object: ...

    def client_wrote(self, *, dialog: Dialog, message: Message) -> None: ...


class HandoffEntry:
    def __init__(self) -> None:
        self._handler: HandoffHandler | None = None

    def register(self, handler: HandoffHandler) -> None:
        self._handler = handler

    @property
    def handler(self) -> HandoffHandler:
        if self._handler is None:
            raise HandoffUnavailable("no handoff app registered")
        return self._handler

    @property
    def installed(self) -> bool:
        return self._handler is not None


class OutboundChannel(Protocol):
    """Carries what the bot, the operators and the system write to a client on one
    messenger. Both methods run inside the writing transaction."""

    def deliver(self, message: Message) -> None: ...

    def headset_revealed(self, dialog: Dialog) -> None: ...


class OutboundChannels:
    def __init__(self) -> None:
        self._channels: dict[str, OutboundChannel] = {}

    def register(self, messenger: str, channel: OutboundChannel) -> None:
        self._channels[messenger] = channel

    def channel_for(self, messenger: str) -> OutboundChannel | None:
        return self._channels.get(messenger)


handoff_entry = HandoffEntry()
outbound_channels = OutboundChannels()
