"""Requests for a person through the API: open on a dialog (reason api), accept on
behalf of a manager, close, transfer to another manager or back to the bot."""

from __future__ import annotations

import pytest

from chats.enums import DialogStatus
from chats.services import dialog_close
from distributor.enums import Presence
from distributor.services import operator_presence_set
from handoff.enums import CloseReason, RequestReason, RequestStatus
from handoff.models import HandoffSettings, Request, RequestEvent
from handoff.services import request_accept
from tests.api.conftest import snapshot
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def test_opening_makes_a_pending_request_with_reason_api(api, world):
    response = api.post("/api/v1/requests/", {"dialog": world.dialog.session_id}, format="json")

    assert response.status_code == 201
    request = Request.objects.get()
    assert (request.reason, request.status) == (RequestReason.API, RequestStatus.PENDING)
    assert response.json()["id"] == request.pk
    assert response.json()["dialog"] == world.dialog.session_id
    world.dialog.refresh_from_db()
    assert world.dialog.status == DialogStatus.WAITING


def test_opening_again_returns_the_open_one(api, world):
    first = api.post("/api/v1/requests/", {"dialog": world.dialog.session_id}, format="json")
    again = api.post("/api/v1/requests/", {"dialog": world.dialog.session_id}, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Request.objects.count() == 1


def test_opening_on_a_closed_dialog_is_409(api, world):
    dialog_close(dialog=world.dialog)
    before = snapshot()

    response = api.post("/api/v1/requests/", {"dialog": world.dialog.session_id}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "dialog_closed"
    assert snapshot() == before


def test_outside_working_hours_nothing_opens_and_it_says_so(api, world):
    settings, _created = HandoffSettings.objects.get_or_create(chat=world.chat)
    settings.working_hours_enabled = True
    settings.save()  # no working periods: never open

    response = api.post("/api/v1/requests/", {"dialog": world.dialog.session_id}, format="json")

    assert response.status_code == 202
    assert response.json()["code"] == "not_opened"
    assert not Request.objects.exists()
    # the client was told when people are there
    assert world.dialog.messages.filter(author_kind="system").exists()


def test_accept_on_behalf_of_a_manager(api, world, objects):
    response = api.post(
        f"/api/v1/requests/{objects.request.pk}/accept/",
        {"operator": world.manager.pk},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert response.json()["operator"] == world.manager.pk
    objects.request.refresh_from_db()
    assert objects.request.operator == world.manager


def test_accepting_a_taken_request_is_409_and_changes_nothing(api, world, objects):
    request_accept(request=objects.request, operator=world.manager)
    second = OperatorFactory(chats=[world.chat])
    before = snapshot()

    response = api.post(
        f"/api/v1/requests/{objects.request.pk}/accept/", {"operator": second.pk}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "already_taken"
    assert snapshot() == before


def test_a_manager_of_another_of_the_keys_chats_cannot_take_this_chats_request(
    world, objects, make_client
):
    client = make_client(chats=[world.chat, world.other_chat])
    before = snapshot()

    response = client.post(
        f"/api/v1/requests/{objects.request.pk}/accept/",
        {"operator": world.other_manager.pk},
        format="json",
    )

    assert response.status_code == 400
    assert "operator" in response.json()["errors"]
    assert snapshot() == before


def test_close(api, world, objects):
    request_accept(request=objects.request, operator=world.manager)

    response = api.post(f"/api/v1/requests/{objects.request.pk}/close/")

    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert response.json()["close_reason"] == CloseReason.OPERATOR
    world.dialog.refresh_from_db()
    assert world.dialog.status == DialogStatus.BOT


def test_closing_a_closed_request_is_409(api, world, objects):
    api.post(f"/api/v1/requests/{objects.request.pk}/close/")
    before = snapshot()

    response = api.post(f"/api/v1/requests/{objects.request.pk}/close/")

    assert response.status_code == 409
    assert snapshot() == before


def test_transfer_to_another_manager(api, world, objects):
    request_accept(request=objects.request, operator=world.manager)
    second = OperatorFactory(display_name="Nina", chats=[world.chat])
    operator_presence_set(operator=second, presence=Presence.ONLINE)

    response = api.post(
        f"/api/v1/requests/{objects.request.pk}/transfer/",
        {"to": "manager", "operator": second.pk, "reason": "billing question"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["operator"] == second.pk
    assert response.json()["status"] == "accepted"
    assert RequestEvent.objects.filter(
        request=objects.request, note__contains="billing question"
    ).exists()


def test_transfer_back_to_the_bot(api, world, objects):
    request_accept(request=objects.request, operator=world.manager)

    response = api.post(
        f"/api/v1/requests/{objects.request.pk}/transfer/",
        {"to": "bot", "reason": "answered"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["close_reason"] == CloseReason.TRANSFERRED_TO_BOT
    world.dialog.refresh_from_db()
    assert world.dialog.status == DialogStatus.BOT


@pytest.mark.parametrize(
    "body",
    [
        {"to": "bot", "reason": "   "},
        {"to": "bot", "reason": "x" * 151},
        {"to": "manager", "operator": "me", "reason": "x"},
        {"to": "bot", "operator": 1, "reason": "x"},
    ],
)
def test_bad_transfers_are_400_and_change_nothing(api, world, objects, body):
    request_accept(request=objects.request, operator=world.manager)
    before = snapshot()

    response = api.post(f"/api/v1/requests/{objects.request.pk}/transfer/", body, format="json")

    assert response.status_code == 400, response.content
    assert snapshot() == before


def test_transfer_to_oneself_or_an_offline_manager_is_refused(api, world, objects):
    request_accept(request=objects.request, operator=world.manager)
    offline = OperatorFactory(chats=[world.chat])
    before = snapshot()
    url = f"/api/v1/requests/{objects.request.pk}/transfer/"

    to_self = api.post(
        url, {"to": "manager", "operator": world.manager.pk, "reason": "x"}, format="json"
    )
    to_offline = api.post(
        url, {"to": "manager", "operator": offline.pk, "reason": "x"}, format="json"
    )

    assert to_self.status_code == 400
    assert to_offline.status_code == 409
    assert snapshot() == before


def test_transferring_a_pending_request_is_409(api, world, objects):
    before = snapshot()

    response = api.post(
        f"/api/v1/requests/{objects.request.pk}/transfer/",
        {"to": "bot", "reason": "x"},
        format="json",
    )

    assert response.status_code == 409
    assert snapshot() == before


def test_the_list_filters_by_status_and_dialog(api, world, objects, make_client):
    request_accept(request=objects.request, operator=world.manager)

    accepted = api.get("/api/v1/requests/?status=accepted").json()["results"]
    pending = api.get("/api/v1/requests/?status=pending").json()["results"]
    by_dialog = api.get(f"/api/v1/requests/?dialog={world.dialog.session_id}").json()

    assert [r["id"] for r in accepted] == [objects.request.pk]
    assert pending == []
    assert [r["id"] for r in by_dialog["results"]] == [objects.request.pk]
    assert api.get("/api/v1/requests/?status=nope").status_code == 400
    assert api.get("/api/v1/requests/?dialog=%00").status_code == 400
