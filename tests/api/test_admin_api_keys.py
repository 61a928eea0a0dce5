"""API keys in Admin: made with a name, scopes, chats and a rate; the token is shown
once (in the message after saving) and only its hash is stored; revocable; the last
use is shown; the secret never appears again."""

from __future__ import annotations

import hashlib

import pytest
from rest_framework.test import APIClient

from distributor.models import ApiKey
from distributor.services import api_key_create
from tests.chats.factories import ChatFactory

pytestmark = pytest.mark.django_db


def add_key(admin_client, chat, **overrides):
    data = {
        "name": "CRM",
        "scopes": ["dialogs:read", "customers:write"],
        "chats": [str(chat.pk)],
        "requests_per_minute": "120",
        **overrides,
    }
    return admin_client.post("/admin/distributor/apikey/add/", data, follow=True)


def test_the_add_form_offers_every_scope_as_a_checkbox(admin_client):
    content = admin_client.get("/admin/distributor/apikey/add/").content.decode()

    for scope in ("dialogs:read", "dialogs:write", "managers:write", "reference:read"):
        assert f'value="{scope}"' in content
    assert 'type="checkbox"' in content
    assert "secret" not in content.lower()


def test_the_token_is_shown_once_and_stored_hashed(admin_client):
    chat = ChatFactory()

    response = add_key(admin_client, chat)

    assert response.status_code == 200
    key = ApiKey.objects.get()
    token = response.content.decode().split("<code>")[1].split("</code>")[0]
    assert token.startswith(key.prefix + ".")
    assert key.secret_hash == hashlib.sha256(token.split(".", 1)[1].encode()).hexdigest()
    assert token.split(".", 1)[1] not in key.secret_hash
    assert (key.name, key.scopes, key.requests_per_minute) == (
        "CRM",
        ["dialogs:read", "customers:write"],
        120,
    )
    assert list(key.chats.all()) == [chat]
    assert key.created_by.username == "admin"
    # the token works
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/dialogs/").status_code == 200
    # and is never shown again: not on the key's page, nor in the list
    secret = token.split(".", 1)[1]
    for url in (f"/admin/distributor/apikey/{key.pk}/change/", "/admin/distributor/apikey/"):
        page = admin_client.get(url).content.decode()
        assert secret not in page
        assert key.secret_hash not in page
        assert key.prefix in page


def test_an_unknown_scope_is_refused(admin_client):
    chat = ChatFactory()

    response = add_key(admin_client, chat, scopes=["dialogs:read", "root"])

    assert response.status_code == 200
    assert "root" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_a_rate_below_one_is_refused(admin_client):
    response = add_key(admin_client, ChatFactory(), requests_per_minute="0")

    assert "Ensure this value is greater than or equal to 1" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_editing_changes_scopes_and_keeps_the_secret(admin_client):
    chat = ChatFactory()
    key, token = api_key_create(name="CRM", scopes=["dialogs:read"], chats=[chat])
    stored = key.secret_hash

    response = admin_client.post(
        f"/admin/distributor/apikey/{key.pk}/change/",
        {
            "name": "CRM 2",
            "scopes": ["managers:read"],
            "chats": [str(chat.pk)],
            "requests_per_minute": "60",
        },
    )

    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.name, key.scopes, key.secret_hash) == ("CRM 2", ["managers:read"], stored)


def test_the_revoke_action_ends_the_key(admin_client):
    chat = ChatFactory()
    key, token = api_key_create(name="CRM", scopes=["dialogs:read"], chats=[chat])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/dialogs/").status_code == 200

    response = admin_client.post(
        "/admin/distributor/apikey/",
        {"action": "revoke", "_selected_action": [str(key.pk)]},
        follow=True,
    )

    assert "1 key revoked." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert client.get("/api/v1/dialogs/").status_code == 401


def test_the_last_use_is_shown(admin_client):
    key, token = api_key_create(name="CRM", scopes=["dialogs:read"], chats=[ChatFactory()])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.get("/api/v1/dialogs/")

    key.refresh_from_db()
    assert key.last_used_at is not None
    page = admin_client.get(f"/admin/distributor/apikey/{key.pk}/change/").content.decode()
    assert "Last used" in page
    assert str(key.last_used_at.year) in page
