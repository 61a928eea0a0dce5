"""Helpers for tests that talk to a real Daphne over real websockets."""

import asyncio
import json

from django.core.management import call_command
from django.test import Client

from distributor.models import Manager


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
    client.force_login(Manager.objects.get(user__username="operator").user)
    return f"sessionid={client.cookies['sessionid'].value}"
