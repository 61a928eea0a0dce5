"""Every endpoint checks the key: its scope (reading needs <area>:read or :write,
anything else <area>:write) and its chats (another chat's object is a 404, never a
403; lists never show it). A refused call changes nothing."""

from __future__ import annotations

import pytest

from distributor.enums import ApiScope
from distributor.services import api_key_revoke
from tests.api.conftest import ALL_SCOPES, snapshot

pytestmark = pytest.mark.django_db


def endpoints(w, o, other=False):
    """(method, url, body, area, write) for every endpoint, naming the first chat's
    objects (or the other chat's with other=True)."""
    dialog = w.other_dialog if other else w.dialog
    request = o.other_request if other else o.request
    customer = o.other_customer if other else o.customer
    manager = w.other_manager if other else w.manager
    chat = w.other_chat if other else w.chat
    sid = dialog.session_id
    return [
        ("get", "/api/v1/dialogs/", None, "dialogs", False),
        ("get", f"/api/v1/dialogs/{sid}/", None, "dialogs", False),
        ("get", f"/api/v1/dialogs/{sid}/messages/", None, "dialogs", False),
        ("post", f"/api/v1/dialogs/{sid}/messages/", {"text": "Hello"}, "dialogs", True),
        ("get", "/api/v1/requests/", None, "dialogs", False),
        ("get", f"/api/v1/requests/{request.pk}/", None, "dialogs", False),
        ("post", "/api/v1/requests/", {"dialog": sid}, "dialogs", True),
        (
            "post",
            f"/api/v1/requests/{request.pk}/accept/",
            {"operator": manager.pk},
            "dialogs",
            True,
        ),
        ("post", f"/api/v1/requests/{request.pk}/close/", None, "dialogs", True),
        (
            "post",
            f"/api/v1/requests/{request.pk}/transfer/",
            {"to": "bot", "reason": "done"},
            "dialogs",
            True,
        ),
        ("get", "/api/v1/customers/", None, "customers", False),
        ("get", f"/api/v1/customers/{customer.pk}/", None, "customers", False),
        (
            "post",
            "/api/v1/customers/",
            {"client": dialog.client_id, "phone": "+79120001122"},
            "customers",
            True,
        ),
        ("patch", f"/api/v1/customers/{customer.pk}/", {"name": "New"}, "customers", True),
        (
            "post",
            f"/api/v1/customers/{customer.pk}/clients/",
            {"client": dialog.client_id},
            "customers",
            True,
        ),
        ("get", "/api/v1/managers/", None, "managers", False),
        ("get", f"/api/v1/managers/{manager.pk}/", None, "managers", False),
        ("patch", f"/api/v1/managers/{manager.pk}/", {"presence": "away"}, "managers", True),
        ("get", "/api/v1/chats/", None, "reference", False),
        ("get", f"/api/v1/chats/{chat.pk}/", None, "reference", False),
    ]


INDEXES = range(20)
OURS = tuple(
    f"/api/v1/{part}/" for part in ("dialogs", "requests", "customers", "managers", "chats")
)


def call(client, method, url, body):
    return (
        getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)
    )


def test_the_table_covers_every_operation_of_the_schema(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    operations = {
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        # the API bots' endpoints (their own keys) are tested in tests/bots
        if path.startswith(OURS)
    }
    assert len(operations) == len(INDEXES)


@pytest.mark.parametrize("index", INDEXES)
def test_a_key_without_the_scope_is_refused_and_nothing_changes(index, world, objects, make_client):
    method, url, body, area, write = endpoints(world, objects)[index]
    # every other scope; for a write, the area's read scope too
    lacking = {f"{area}:write"} | (set() if write else {f"{area}:read"})
    client = make_client(scopes=[s for s in ALL_SCOPES if s not in lacking], chats=[world.chat])
    before = snapshot()

    response = call(client, method, url, body)

    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"
    assert f"{area}:{'write' if write else 'read'}" in response.json()["detail"]
    assert snapshot() == before


@pytest.mark.parametrize("index", INDEXES)
def test_the_scope_of_the_area_alone_is_enough(index, world, objects, make_client):
    method, url, body, area, write = endpoints(world, objects)[index]
    client = make_client(scopes=[f"{area}:{'write' if write else 'read'}"], chats=[world.chat])

    response = call(client, method, url, body)

    # the call got past the key's checks (a 409 is the request's state: already
    # pending, not accepted yet)
    assert response.status_code in (200, 201, 409), response.content


@pytest.mark.parametrize("index", INDEXES)
def test_another_chats_objects_are_not_found_or_not_listed(index, world, objects, make_client):
    method, url, body, area, write = endpoints(world, objects, other=True)[index]
    client = make_client(chats=[world.chat])
    before = snapshot()

    response = call(client, method, url, body)

    if url.endswith(("/dialogs/", "/requests/", "/customers/", "/managers/", "/chats/")) and (
        method == "get"
    ):
        assert response.status_code == 200
        listed = str(response.json()["results"])
        for secret in (
            world.other_dialog.session_id,
            "Zed",
            "zed@example.com",
            "Oscar",
            "Elsewhere",
        ):
            assert secret not in listed
        assert response.json()["results"]  # the key's own chat's objects are there
    elif url[-10:] == "/requests/" or url.endswith("/customers/"):
        # a body naming another chat's dialog or client: bad input
        assert response.status_code == 400, response.content
    else:
        assert response.status_code == 404, response.content
        assert response.json() == {"detail": "Not found.", "code": "not_found"}
    assert snapshot() == before


def test_lists_name_only_the_keys_chats_inside_objects(world, objects, make_client):
    # the manager serves both chats; the key sees only its own in their lists
    world.manager.chats.add(world.other_chat)
    client = make_client(chats=[world.chat])

    managers = client.get("/api/v1/managers/").json()["results"]

    assert [(m["display_name"], m["chats"]) for m in managers] == [("Olga", [world.chat.pk])]


@pytest.mark.parametrize("index", INDEXES)
def test_no_key_a_revoked_key_or_a_wrong_header_is_401(index, world, objects, make_client):
    method, url, body, _area, _write = endpoints(world, objects)[index]
    revoked = make_client(chats=[world.chat])
    api_key_revoke(key=revoked.key)
    unauthenticated = make_client(chats=[world.chat])
    unauthenticated.credentials()
    wrong_scheme = make_client(chats=[world.chat])
    wrong_scheme.credentials(HTTP_AUTHORIZATION=f"Token {wrong_scheme.token}")
    forged = make_client(chats=[world.chat])
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer {forged.token[:-2]}xx")
    before = snapshot()

    for client in (revoked, unauthenticated, wrong_scheme, forged):
        response = call(client, method, url, body)
        assert response.status_code == 401, response.content
        assert response["WWW-Authenticate"] == "Bearer"
        assert response.json()["code"] in ("not_authenticated", "authentication_failed")
    assert snapshot() == before


def test_a_key_with_no_chats_sees_nothing(world, objects, make_client):
    client = make_client(chats=[])

    for url in ("/api/v1/dialogs/", "/api/v1/requests/", "/api/v1/customers/"):
        assert client.get(url).json()["results"] == []
    assert client.get(f"/api/v1/dialogs/{world.dialog.session_id}/").status_code == 404


def test_scopes_are_the_documented_ones():
    assert set(ApiScope.values) == {
        "dialogs:read",
        "dialogs:write",
        "customers:read",
        "customers:write",
        "managers:read",
        "managers:write",
        "reference:read",
    }
