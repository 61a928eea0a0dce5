"""Bad input anywhere is a 4xx with a clear JSON message, and nothing is changed:
malformed or deeply nested JSON, lone surrogates and NULs, huge values, wrong types,
unknown fields' types, ids of other chats, oversized bodies."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import snapshot

pytestmark = pytest.mark.django_db


def raw(client, method, url, text):
    return getattr(client, method)(url, text, content_type="application/json")


def bad_bodies(world, objects):
    sid = world.dialog.session_id
    messages = f"/api/v1/dialogs/{sid}/messages/"
    customer = f"/api/v1/customers/{objects.customer.pk}/"
    return [
        ("post", messages, "{"),
        ("post", messages, "[" * 5000 + "]" * 5000),
        ("post", messages, '{"text": ' + "[" * 20000 + "]" * 20000 + "}"),
        ("post", messages, "x" * 70_000),
        ("post", messages, '{"text": "\\ud800"}'),
        ("post", messages, '{"text": "a\\u0000b"}'),
        ("post", messages, '{"text": NaN}'),
        ("post", messages, json.dumps({"text": "x" * 5000})),
        ("post", messages, json.dumps({"text": ["a"]})),
        ("post", messages, json.dumps({"text": "   "})),
        ("post", messages, json.dumps({"text": "ok", "client_message_id": "x" * 49})),
        ("post", messages, json.dumps({"text": "ok", "client_message_id": "a b"})),
        ("post", messages, json.dumps([1, 2])),
        ("post", messages, json.dumps("text")),
        ("post", "/api/v1/requests/", json.dumps({"dialog": world.other_dialog.session_id})),
        ("post", "/api/v1/requests/", json.dumps({"dialog": 12})),
        ("post", "/api/v1/requests/", json.dumps({"dialog": "\udfff" * 32})),
        (
            "post",
            f"/api/v1/requests/{objects.request.pk}/accept/",
            json.dumps({"operator": world.other_manager.pk}),
        ),
        (
            "post",
            f"/api/v1/requests/{objects.request.pk}/accept/",
            json.dumps({"operator": 2**70}),
        ),
        (
            "post",
            f"/api/v1/requests/{objects.request.pk}/accept/",
            json.dumps({"operator": "1; DROP TABLE"}),
        ),
        (
            "post",
            f"/api/v1/requests/{objects.request.pk}/transfer/",
            json.dumps({"to": "manager"}),
        ),
        (
            "post",
            f"/api/v1/requests/{objects.request.pk}/transfer/",
            json.dumps({"to": "moon", "reason": "x"}),
        ),
        (
            "post",
            "/api/v1/customers/",
            json.dumps({"client": world.other_dialog.client_id, "phone": "+79120001122"}),
        ),
        ("post", "/api/v1/customers/", json.dumps({"client": world.dialog.client_id})),
        (
            "post",
            "/api/v1/customers/",
            json.dumps({"client": world.dialog.client_id, "phone": "12"}),
        ),
        (
            "post",
            "/api/v1/customers/",
            '{"client": ' + str(world.dialog.client_id) + ', "name": "\\udc00", "email": "a@b.co"}',
        ),
        ("post", "/api/v1/customers/", json.dumps({"client": True, "email": "a@b.co"})),
        ("patch", customer, json.dumps({"email": "not an e-mail"})),
        ("patch", customer, json.dumps({"email": "zed@example.com"})),
        ("patch", customer, json.dumps({"email": "", "phone": ""})),
        ("patch", customer, json.dumps({"name": "x" * 201})),
        ("patch", customer, json.dumps({"name": {"a": 1}})),
        (
            "post",
            f"/api/v1/customers/{objects.customer.pk}/clients/",
            json.dumps({"client": world.other_dialog.client_id}),
        ),
        ("patch", f"/api/v1/managers/{world.manager.pk}/", json.dumps({"presence": "busy"})),
        ("patch", f"/api/v1/managers/{world.manager.pk}/", json.dumps({"presence": None})),
    ]


INDEXES = range(35)


def test_the_table_has_every_case(world, objects):
    assert len(bad_bodies(world, objects)) == len(INDEXES)


@pytest.mark.parametrize("index", INDEXES)
def test_bad_bodies_are_4xx_json_and_change_nothing(index, api, world, objects):
    method, url, text = bad_bodies(world, objects)[index]
    before = snapshot()

    response = raw(api, method, url, text)

    assert 400 <= response.status_code < 500, response.content
    assert response.status_code in (400, 413)
    body = response.json()
    assert body["detail"] and body["code"]
    assert snapshot() == before


def test_a_form_body_is_415(api, world):
    before = snapshot()
    response = api.post(
        f"/api/v1/dialogs/{world.dialog.session_id}/messages/",
        "text=hi",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert snapshot() == before


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/requests/99999999999999999999999/",
        "/api/v1/customers/9223372036854775808/",
        "/api/v1/managers/0x10/",
        "/api/v1/dialogs/%00/",
        "/api/v1/chats/%ED%A0%80/",
    ],
)
def test_bad_ids_in_the_path_are_404(api, world, url):
    assert api.get(url).status_code == 404


def test_an_error_echoing_a_lone_surrogate_still_renders(api, world):
    response = raw(api, "patch", f"/api/v1/managers/{world.manager.pk}/", '{"presence": "\\ud800"}')

    assert response.status_code == 400
    assert "presence" in response.json()["errors"]


def test_an_address_that_is_no_endpoint_is_a_json_404(api):
    response = api.get("/api/v1/nothing/here/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
    assert "slash" in api.get("/api/v1/dialogs").json()["detail"]
