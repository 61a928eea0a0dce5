"""API bots' fixtures: a real webhook receiver on localhost, a chat whose web channel is
routed to a registered API bot, and API clients holding the keys."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from chats.enums import Messenger
from distributor.enums import ApiScope, RouteTarget
from distributor.models import ApiBot, RoutingRule
from distributor.services import api_key_create, chat_distribution_for
from distributor.services.api_bots import api_bot_register
from tests.chats.factories import ChatFactory


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers with the next
    planned status (200 once the plan is used up)."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    planned: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def fail_next(self, times: int, status: int = 500) -> None:
        with self.lock:
            self.planned.extend([status] * times)

    def events(self) -> list[str]:
        with self.lock:
            return [item.headers["X-Baton-Event"] for item in self.received]

    def answered(self, received: Received) -> int:
        with self.lock:
            self.received.append(received)
            return self.planned.pop(0) if self.planned else 200


def _handler(receiver_box: list[WebhookReceiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = receiver_box[0].answered(Received(dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args) -> None:  # noqa: A002 - quiet
            return

    return Handler


@pytest.fixture
def webhook_receiver():
    box: list[WebhookReceiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    server.daemon_threads = True
    receiver = WebhookReceiver(server=server)
    box.append(receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def _private_webhooks_allowed(settings):
    """The receiver is on localhost; production refuses such webhooks (the setting's
    default with DEBUG off), tests/bots/test_webhooks.py checks that too."""
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = True


@dataclass
class RegisteredBot:
    bot: ApiBot
    token: str
    secret: str
    chat: object
    api: APIClient


def api_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def integration_key(chats, scopes=(ApiScope.MANAGERS_WRITE,)):
    return api_key_create(name="integration", scopes=list(scopes), chats=list(chats))


def register_bot(*, chat, url: str, capacity: int = 5, name: str = "Helper bot", route=True):
    key, _token = integration_key([chat])
    bot, token, secret = api_bot_register(
        key=key, name=name, webhook_url=url, chats=[chat.pk], capacity=capacity
    )
    if route:
        distribution = chat_distribution_for(chat)
        RoutingRule.objects.update_or_create(
            distribution=distribution,
            messenger=Messenger.WEB,
            defaults={"target": RouteTarget.BOT, "api_bot": bot},
        )
    return RegisteredBot(bot=bot, token=token, secret=secret, chat=chat, api=api_client(token))


@pytest.fixture
def routed_bot(db, webhook_receiver) -> RegisteredBot:
    """A chat whose web channel is routed to an API bot (capacity 5) whose webhook is the
    receiver."""
    return register_bot(chat=ChatFactory(), url=webhook_receiver.url)
