"""Where handoff reaches the operator surfaces above it (Telegram) without importing
them: `operator_surfaces`, filled in AppConfig.ready(). The console needs no entry:
it listens on the channel layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chats.models import Message
    from handoff.models import Request


class OperatorSurface(Protocol):
    """Both methods run inside the transaction that made the change, so a surface
    records what it must send atomically with it and sends after commit."""

    # relations of Request that client_message reads, loaded with the request by whoever
    # calls it (one JOIN instead of a query per message)
    request_related: tuple[str, ...]
    # relations of Chat that request_changed reads, loaded with the chat where the
    # request is locked (handoff.services.request_lock)
    chat_related: tuple[str, ...]

    def request_changed(self, request: Request) -> None: ...

    def client_message(self, request: Request, message: Message) -> None: ...


class OperatorSurfaces:
    def __init__(self) -> None:
        self._surfaces: list[OperatorSurface] = []

    def register(self, surface: OperatorSurface) -> None:
        if surface not in self._surfaces:
            self._surfaces.append(surface)

    @property
    def request_related(self) -> list[str]:
        """What client_message's caller selects with the request (select_related)."""
        return [
            name for surface in self._surfaces for name in getattr(surface, "request_related", ())
        ]

    def chat_related_of(self, path: str) -> list[str]:
        """What to select with a chat reached by `path` (select_related) so that
        request_changed reads nothing more for it."""
        return [
            f"{path}__{name}"
            for surface in self._surfaces
            for name in getattr(surface, "chat_related", ())
        ]

    def request_changed(self, request: Request) -> None:
        for surface in self._surfaces:
            surface.request_changed(request)

    def client_message(self, request: Request, message: Message) -> None:
        for surface in self._surfaces:
            surface.client_message(request, message)


operator_surfaces = OperatorSurfaces()
