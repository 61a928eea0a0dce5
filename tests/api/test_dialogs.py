"""Dialogs: the list with the dialog viewer's filters, one by its session id, its
messages (cursor by sequence) and posting into it (idempotent, never a closed one)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from chats.enums import AuthorKind, DialogStatus
from chats.models import Message
from chats.services import dialog_close, message_post
from tests.api.conftest import snapshot
from tests.chats.factories import ClientFactory, DialogFactory

pytestmark = pytest.mark.django_db


def sessions(response) -> list[str]:
    return [dialog["session_id"] for dialog in response.json()["results"]]


def test_the_list_is_newest_first_and_pages_by_cursor(api, world):
    now = timezone.now()
    made = [
        DialogFactory(
            client=ClientFactory(chat=world.chat), started_at=now - datetime.timedelta(hours=i + 1)
        )
        for i in range(5)
    ]

    first = api.get("/api/v1/dialogs/?limit=2").json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()

    seen = [d["session_id"] for page in (first, second, third) for d in page["results"]]
    expected = [world.dialog.session_id] + [d.session_id for d in made]
    assert seen == expected
    assert third["next"] is None


def test_the_viewers_filters_apply(api, world, make_client):
    telegram = DialogFactory(client=ClientFactory(chat=world.chat, messenger="telegram"))
    closed = DialogFactory(client=ClientFactory(chat=world.chat))
    dialog_close(dialog=closed)
    message_post(dialog=telegram, author_kind=AuthorKind.CLIENT, text="Where is my refund?")

    assert sessions(api.get("/api/v1/dialogs/?messenger=telegram")) == [telegram.session_id]
    assert sessions(api.get("/api/v1/dialogs/?status=closed")) == [closed.session_id]
    assert sessions(api.get("/api/v1/dialogs/?text=refund")) == [telegram.session_id]
    assert sessions(api.get(f"/api/v1/dialogs/?chat={world.chat.pk}&status=closed")) == [
        closed.session_id
    ]
    # a chat filter naming a chat the key does not have selects nothing from it
    assert sessions(api.get(f"/api/v1/dialogs/?chat={world.other_chat.pk}")) == []


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "date_from=2026-13-01",
        "date_from=2026-02-02&date_to=2026-02-01",
        "messenger=pigeon",
        "chat=abc",
        "chat=99999999999999999999999",
        "operator=-1",
        "text=" + "x" * 201,
        "cursor=forged",
    ],
)
def test_bad_filters_are_400_with_the_field(api, world, query):
    response = api.get(f"/api/v1/dialogs/?{query}")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["errors"]) & {
        "status",
        "date_from",
        "date_to",
        "messenger",
        "chat",
        "operator",
        "text",
        "cursor",
    }


def test_a_forged_cursor_position_is_400_not_a_server_error(api, world):
    import base64
    from urllib.parse import quote

    for position in ("not-a-date", "9" * 40, "2026-12-01T00:00:00\x00"):
        cursor = base64.b64encode(f"p={position}".encode()).decode()
        response = api.get(f"/api/v1/dialogs/?cursor={quote(cursor)}")
        assert response.status_code == 400, position
    cursor = base64.b64encode(b"p=abc").decode()
    assert api.get(f"/api/v1/managers/?cursor={quote(cursor)}").status_code == 400


def test_one_dialog_with_its_client_and_open_request(api, world, objects):
    body = api.get(f"/api/v1/dialogs/{world.dialog.session_id}/").json()

    assert body["session_id"] == world.dialog.session_id
    assert body["status"] == DialogStatus.WAITING
    assert body["client"]["name"] == "Ann"
    assert body["client"]["customer"] == objects.customer.pk
    assert body["request"]["id"] == objects.request.pk
    assert body["request"]["status"] == "pending"


def test_an_unknown_session_id_is_404(api, world):
    assert api.get("/api/v1/dialogs/" + "0" * 32 + "/").status_code == 404
    assert api.get("/api/v1/dialogs/not-a-session/").status_code == 404


def test_messages_page_by_sequence(api, world):
    for index in range(5):
        message_post(dialog=world.dialog, author_kind=AuthorKind.CLIENT, text=f"m{index}")

    first = api.get(f"/api/v1/dialogs/{world.dialog.session_id}/messages/?limit=3").json()
    second = api.get(first["next"]).json()

    texts = [m["text"] for m in first["results"] + second["results"]]
    assert texts == ["m0", "m1", "m2", "m3", "m4"]
    assert [m["sequence"] for m in first["results"]] == [1, 2, 3]


def test_posting_is_a_bot_message_named_after_the_key(api, world):
    response = api.post(
        f"/api/v1/dialogs/{world.dialog.session_id}/messages/",
        {"text": "Your order shipped."},
        format="json",
    )

    assert response.status_code == 201
    message = Message.objects.get(dialog=world.dialog)
    assert (message.author_kind, message.author_name, message.text) == (
        AuthorKind.BOT,
        "CRM",
        "Your order shipped.",
    )
    assert response.json()["sequence"] == message.sequence


def test_posting_again_with_the_same_client_message_id_posts_nothing(api, world, make_client):
    url = f"/api/v1/dialogs/{world.dialog.session_id}/messages/"
    body = {"text": "Once", "client_message_id": "order-42:shipped"}

    first = api.post(url, body, format="json")
    again = api.post(url, {**body, "text": "Twice"}, format="json")
    # another key's ids are its own
    other = make_client(chats=[world.chat], name="ERP").post(url, body, format="json")

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json() == first.json()
    assert list(Message.objects.values_list("text", "author_name")) == [
        ("Once", "CRM"),
        ("Once", "ERP"),
    ]


def test_posting_into_a_closed_dialog_is_409_and_posts_nothing(api, world):
    dialog_close(dialog=world.dialog)
    before = snapshot()

    response = api.post(
        f"/api/v1/dialogs/{world.dialog.session_id}/messages/", {"text": "Hi"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "dialog_closed"
    assert snapshot() == before
