"""Helpers for tests that talk to a real Daphne over real websockets."""

import asyncio
import json

from django.core.management import call_command
from django.test import Client

from chats.visitor_tokens import visitor_token_issue
from distributor.models import Operator


async def frames_until(socket, predicate, timeout=15):
    """Read frames until one satisfies `predicate`; return it."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await socket.recv())
            if predicate(frame):
                return frame


def is_text(text):
    return lambda frame: frame["type"] == "message" and frame["message"]["text"] == text


def operator_cookie() -> str:
    """The demo operator's session cookie (loads the demo data)."""
    call_command("load_demo")
    client = Client()
    client.force_login(Operator.objects.get(user__username="operator").user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def visitor_and_operator_talk(visitor, operator) -> tuple[int, dict, dict]:
    """On an open widget socket and an open console socket (the demo chat): the visitor
    asks for a human, the operator watches, accepts and replies, the visitor answers.
    Returns (request id, the reply as the visitor got it, the answer as the operator
    got it)."""
    await frames_until(operator, lambda f: f["type"] == "requests")
    await visitor.send(
        json.dumps({"type": "hello", "token": visitor_token_issue(public_key="demo")})
    )
    await frames_until(visitor, lambda f: f["type"] == "welcome")
    await visitor.send(json.dumps({"type": "handoff"}))
    changed = await frames_until(operator, lambda f: f["type"] == "request_changed")
    request_id = changed["request"]["id"]
    await operator.send(json.dumps({"type": "watch", "request": request_id}))
    await operator.send(json.dumps({"type": "accept", "request": request_id}))
    await frames_until(visitor, is_text("Connected to Olga"))
    reply = {"type": "message", "request": request_id, "client_msg_id": "op-1", "text": "From O"}
    await operator.send(json.dumps(reply))
    heard_by_visitor = await frames_until(visitor, is_text("From O"))
    await visitor.send(json.dumps({"type": "message", "client_msg_id": "v-1", "text": "From V"}))
    heard_by_operator = await frames_until(operator, is_text("From V"))
    return request_id, heard_by_visitor, heard_by_operator
