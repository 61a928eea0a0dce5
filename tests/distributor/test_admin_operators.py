"""Managers in Admin: presence shown (read-only, with when it changed), capacity,
chats, and the channels served per chat, which must be chats the manager serves."""

import datetime

import pytest

from chats.enums import Messenger
from distributor.enums import Presence
from distributor.models import Operator, OperatorChannel
from tests.chats.factories import ChatFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def operator_form(operator, chats, channels=(), initial_channels=0, **changes):
    data = {
        "user": str(operator.user_id),
        "display_name": operator.display_name,
        "chats": [str(chat.pk) for chat in chats],
        "max_simultaneous_dialogs": "3",
        "channels-TOTAL_FORMS": str(len(channels)),
        "channels-INITIAL_FORMS": str(initial_channels),
        "channels-MIN_NUM_FORMS": "0",
        "channels-MAX_NUM_FORMS": "1000",
    }
    for index, (chat, messenger) in enumerate(channels):
        data[f"channels-{index}-chat"] = str(chat.pk)
        data[f"channels-{index}-messenger"] = messenger
    data.update(changes)
    return data


def test_the_list_shows_presence_with_when_it_changed_capacity_and_chats(admin_client):
    chat = ChatFactory(name="Shop")
    OperatorFactory(
        display_name="Olga",
        chats=[chat],
        presence=Presence.ONLINE,
        presence_changed_at=datetime.datetime(2026, 12, 1, 9, 5, tzinfo=datetime.UTC),
        max_simultaneous_dialogs=7,
    )

    content = admin_client.get("/admin/distributor/operator/").content.decode()

    assert "online since" in content
    assert "Shop" in content
    assert ">7<" in content


def test_presence_is_read_only_in_admin(admin_client):
    operator = OperatorFactory(presence=Presence.AWAY)

    response = admin_client.post(
        f"/admin/distributor/operator/{operator.pk}/change/",
        operator_form(operator, [], presence=Presence.ONLINE),
    )

    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.presence == Presence.AWAY
    assert operator.max_simultaneous_dialogs == 3


def test_channels_are_saved_for_a_chat_chosen_in_the_same_save(admin_client):
    operator = OperatorFactory()
    chat = ChatFactory()

    response = admin_client.post(
        f"/admin/distributor/operator/{operator.pk}/change/",
        operator_form(operator, [chat], channels=[(chat, Messenger.TELEGRAM)]),
    )

    assert response.status_code == 302
    assert list(OperatorChannel.objects.values_list("operator", "chat", "messenger")) == [
        (operator.pk, chat.pk, "telegram")
    ]


def test_a_channel_in_a_chat_the_manager_does_not_serve_is_refused(admin_client):
    served, other = ChatFactory(), ChatFactory(name="Other shop")
    operator = OperatorFactory(chats=[served])

    response = admin_client.post(
        f"/admin/distributor/operator/{operator.pk}/change/",
        operator_form(operator, [served], channels=[(other, Messenger.WEB)]),
    )

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert errors["chat"] == [
        "Other shop is not one of the chats this manager serves: add it above."
    ]
    assert not OperatorChannel.objects.exists()
    assert Operator.objects.get(pk=operator.pk).max_simultaneous_dialogs == 5


def test_the_same_channel_twice_is_refused(admin_client):
    chat = ChatFactory()
    operator = OperatorFactory(chats=[chat])

    response = admin_client.post(
        f"/admin/distributor/operator/{operator.pk}/change/",
        operator_form(operator, [chat], channels=[(chat, "web"), (chat, "web")]),
    )

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert not OperatorChannel.objects.exists()


def test_a_capacity_below_one_is_refused(admin_client):
    operator = OperatorFactory()

    response = admin_client.post(
        f"/admin/distributor/operator/{operator.pk}/change/",
        operator_form(operator, [], max_simultaneous_dialogs="0"),
    )

    assert response.status_code == 200
    assert "max_simultaneous_dialogs" in response.context["adminform"].form.errors
    assert Operator.objects.get(pk=operator.pk).max_simultaneous_dialogs == 5


def test_taking_a_chat_away_drops_the_managers_channel_rows_of_it(admin_client):
    # given a manager serving two chats, with a channel chosen in the first
    first, second = ChatFactory(), ChatFactory(name="Other shop")
    operator = OperatorFactory(chats=[first, second])
    row = OperatorChannel.objects.create(operator=operator, chat=first, messenger=Messenger.WEB)
    # when the admin takes the first chat away, leaving the channel row as it was
    data = operator_form(operator, [second], channels=[(first, Messenger.WEB)], initial_channels=1)
    data["channels-0-id"] = str(row.pk)
    data["channels-0-operator"] = str(operator.pk)
    response = admin_client.post(f"/admin/distributor/operator/{operator.pk}/change/", data)
    # then the page saves, and the row went with the chat
    assert response.status_code == 302
    assert list(operator.chats.all()) == [second]
    assert not OperatorChannel.objects.exists()
