"""A second fake bot for the Bot API proxy tests: the parallel bot's webhook, an HTTP
server on localhost that records every POST (headers and JSON body) and can be told to
fail the next ones.

    with FakeWebhookReceiver() as receiver:
        ... setWebhook(url=receiver.url, secret_token="s") through Baton ...
        receiver.wait_for(1)[0].body["update_id"]
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    raw: bytes
    status: int  # what the receiver answered

    @property
    def body(self) -> Any:
        return json.loads(self.raw)

    @property
    def secret(self) -> str | None:
        return self.headers.get("x-telegram-bot-api-secret-token")


class FakeWebhookReceiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._failures: list[int] = []  # statuses of the next answers
        self._replies: list[dict] = []  # bodies of the next 200 answers
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def start(self) -> FakeWebhookReceiver:
        receiver = self

        class Handler(_Handler):
            fake = receiver

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-webhook-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeWebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail_next(self, times: int = 1, status: int = 500) -> None:
        """The next `times` POSTs are answered `status` (recorded all the same)."""
        with self._lock:
            self._failures.extend([status] * times)

    def reply_next(self, document: dict) -> None:
        """The next accepted POST is answered with `document` (JSON): a webhook's answer
        may be a Bot API call ({"method": ..., ...})."""
        with self._lock:
            self._replies.append(document)

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def accepted(self) -> list[Delivery]:
        return [delivery for delivery in self.deliveries() if delivery.status == 200]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Delivery]:
        """Blocks until `count` POSTs were answered 200."""
        deadline = time.monotonic() + timeout
        while True:
            accepted = self.accepted()
            if len(accepted) >= count:
                return accepted
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected {count} accepted deliveries within {timeout}s, got "
                    f"{[(d.status, d.raw[:80]) for d in self.deliveries()]}"
                )
            time.sleep(0.02)

    def _record(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
        with self._lock:
            status = self._failures.pop(0) if self._failures else 200
            self._deliveries.append(Delivery(path, headers, raw, status))
            if status != 200:
                return status, b'{"error": "injected"}'
            return status, json.dumps(self._replies.pop(0) if self._replies else {}).encode()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeWebhookReceiver

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, body = self.fake._record(self.path, headers, raw)  # noqa: SLF001
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass
