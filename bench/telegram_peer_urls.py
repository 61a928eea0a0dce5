"""Baton's URLs plus the peer of bench/telegram_webhook.py: a Django view on the same
Daphne that reads the update's JSON and answers as the webhook does, storing nothing.
It runs through Django's whole stack (middleware included), as any Django view would."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as baton_urlpatterns

PEER_PREFIX = "bench/telegram-peer/"


@csrf_exempt
@require_POST
async def webhook_peer(request: HttpRequest, webhook_key: str) -> JsonResponse:
    json.loads(request.body)
    return JsonResponse({"ok": True, "duplicate": False})


urlpatterns = [
    path(f"{PEER_PREFIX}<str:webhook_key>/", webhook_peer, name="telegram_webhook_peer"),
    *baton_urlpatterns,
]
