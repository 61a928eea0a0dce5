"""A small Baton API bot, standard library only (Python 3.11+).

It receives Baton's webhooks, verifies their signature, answers every client message
and hands the dialog to a person when the client writes "human".

    BATON_URL=https://baton.example.com \\
    BATON_BOT_TOKEN=<the api_key from registration> \\
    BATON_SIGNING_SECRET=<the signing_secret from registration> \\
    PORT=8080 python docs/examples/api_bot.py

Register the bot first (an integration key with managers:write):

    curl -X POST "$BATON_URL/api/v1/bots/" -H "Authorization: Bearer $INTEGRATION_KEY" \\
      -H "Content-Type: application/json" \\
      -d '{"name": "Echo", "webhook_url": "https://bot.example.com/hook", "chats": [1]}'

and route a channel of the chat to it in Admin (the chat's distribution settings).
See docs/api.md, "API bots and webhooks".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# a delivery signed longer ago than this is refused (a replayed capture)
TOLERANCE_SECONDS = 300


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Whether `header` (X-Baton-Signature: "t=<unix>,v1=<hex>") signs `body` (the raw
    bytes received) with `secret`, at most `tolerance` seconds ago."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    timestamp, signature = parts.get("t", ""), parts.get("v1", "")
    # str.isdigit() accepts digits int() refuses ("²"); compare_digest refuses non-ASCII
    if not (timestamp.isascii() and timestamp.isdigit()) or not signature.isascii():
        return False
    if not signature:
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature)


class BatonApi:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def post(self, path: str, data: dict | None = None) -> dict:
        request = urllib.request.Request(  # noqa: S310 - the operator's own Baton URL
            f"{self.base_url}/api/v1/bots/{path}",
            data=json.dumps(data or {}).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")

    def reply(self, session_id: str, text: str, *, client_message_id: str, buttons=None):
        data = {"text": text, "client_message_id": client_message_id}
        if buttons:
            data["buttons"] = buttons
        return self.post(f"dialogs/{session_id}/messages/", data)

    def handoff(self, session_id: str) -> dict:
        return self.post(f"dialogs/{session_id}/handoff/")


def answer(api: BatonApi, event: dict) -> None:
    """What the bot does with one event."""
    if event["event"] != "message.created":
        return  # dialog.assigned (with the history) and dialog.closed need nothing here
    session_id = event["dialog"]["session_id"]
    message = event["message"]
    if "human" in message["text"].lower():
        api.handoff(session_id)
        return
    # the delivery id makes the reply idempotent: a retried webhook posts nothing twice
    api.reply(
        session_id,
        f"You wrote: {message['text']}. Write “human” to talk to a person.",
        client_message_id=event["event_id"][:60],
        buttons=[{"text": "Our website", "url": "https://example.com/"}],
    )


def handler_for(api: BatonApi, secret: str) -> type[BaseHTTPRequestHandler]:
    seen: set[str] = set()

    class WebhookHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not verify_signature(secret, self.headers.get("X-Baton-Signature", ""), body):
                self.send_response(401)
                self.end_headers()
                return
            delivery = self.headers.get("X-Baton-Delivery", "")
            if delivery not in seen:  # Baton retries until it gets a 2xx: answer each once
                answer(api, json.loads(body))
                seen.add(delivery)
            self.send_response(204)
            self.end_headers()

    return WebhookHandler


def main() -> None:
    api = BatonApi(os.environ["BATON_URL"], os.environ["BATON_BOT_TOKEN"])
    secret = os.environ["BATON_SIGNING_SECRET"]
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), handler_for(api, secret))  # noqa: S104
    print(f"listening on :{port}")
    server.serve_forever()


if __name__ == "__main__":
    main()
