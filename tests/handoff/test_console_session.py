"""An open console socket lives only as long as its session (issue 8, item 7): logging
out anywhere, a password change, an expired session or the operator profile moving to
another user ends it, and no frame that changes something is served after that."""

from importlib import import_module

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from chats.models import Message
from distributor.models import Operator
from handoff.models import Request
from tests.handoff.test_console_consumer import (
    receive_until,
    world,  # noqa: F401 - fixture
)
from tests.handoff.test_console_hardening import (
    admin_client,
    assert_still_serving,
    closed_with,
    console_with,
    logged_in_client,
    request_statuses,
)

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-new-and-long-passphrase"


def staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def session_forget(client: Client) -> None:
    """The session ends in the store with no event at all (expiry, cleared sessions)."""
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore(client.cookies["sessionid"].value).delete()


async def test_logging_out_in_the_admin_closes_that_sessions_console(world):  # noqa: F811
    olga = await sync_to_async(staff)(world["olga"].user)
    laptop = await sync_to_async(logged_in_client)(olga)
    phone = await sync_to_async(logged_in_client)(olga)
    laptop_console = await console_with(laptop)
    phone_console = await console_with(phone)
    # when: the same session logs out through the admin, not the console
    response = await sync_to_async(laptop.post)("/admin/logout/")
    assert response.status_code == 200
    # then
    assert await closed_with(laptop_console) == 4401
    await assert_still_serving(phone_console)
    await phone_console.disconnect()


async def test_after_the_session_ended_silently_accept_is_refused_and_closes(world):  # noqa: F811
    laptop = await sync_to_async(logged_in_client)(world["olga"].user)
    console = await console_with(laptop)
    # given: the session is gone from the store, and nothing rang the socket
    await sync_to_async(session_forget)(laptop)
    # when
    await console.send_json_to({"type": "accept", "request": world["mine"].pk})
    # then
    assert await closed_with(console) == 4401
    assert await request_statuses() == ["pending", "pending"]


async def test_after_the_session_ended_silently_a_reply_is_not_stored(world):  # noqa: F811
    laptop = await sync_to_async(logged_in_client)(world["olga"].user)
    console = await console_with(laptop)
    request_id = world["mine"].pk
    await console.send_json_to({"type": "accept", "request": request_id})
    await receive_until(console, lambda frame: frame["type"] == "request_changed")
    before = await sync_to_async(Message.objects.count)()
    # given
    await sync_to_async(session_forget)(laptop)
    # when
    await console.send_json_to(
        {"type": "message", "request": request_id, "client_msg_id": "late-1", "text": "hello?"}
    )
    # then
    assert await closed_with(console) == 4401
    assert await sync_to_async(Message.objects.count)() == before
    assert not await sync_to_async(Message.objects.filter(client_msg_id="late-1").exists)()


@pytest.mark.parametrize("frame", [{"type": "refresh"}, {"type": "ping"}])
async def test_an_expired_session_is_noticed_on_refresh_and_ping(world, frame):  # noqa: F811
    laptop = await sync_to_async(logged_in_client)(world["olga"].user)
    console = await console_with(laptop)
    await sync_to_async(session_forget)(laptop)
    # when
    await console.send_json_to(frame)
    # then
    assert await closed_with(console) == 4401


async def test_a_ping_while_logged_in_is_answered(world):  # noqa: F811
    laptop = await sync_to_async(logged_in_client)(world["olga"].user)
    console = await console_with(laptop)
    await console.send_json_to({"type": "ping"})
    assert await console.receive_json_from(timeout=5) == {"type": "pong"}
    await console.disconnect()


def password_set_in_admin(user) -> None:
    response = admin_client().post(
        f"/admin/auth/user/{user.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert get_user_model().objects.get(pk=user.pk).check_password(NEW_PASSWORD)


async def test_a_password_set_in_the_admins_password_form_closes_the_console(world):  # noqa: F811
    laptop = await sync_to_async(logged_in_client)(world["olga"].user)
    console = await console_with(laptop)
    # when
    await sync_to_async(password_set_in_admin)(world["olga"].user)
    # then
    assert await closed_with(console) == 4401


async def test_changing_ones_own_password_closes_the_consoles_of_other_sessions(world):  # noqa: F811
    olga = await sync_to_async(staff)(world["olga"].user)
    laptop = await sync_to_async(logged_in_client)(olga)
    phone = await sync_to_async(logged_in_client)(olga)
    phone_console = await console_with(phone)
    # when: Olga changes her password in the admin on her laptop
    response = await sync_to_async(laptop.post)(
        "/admin/password_change/",
        {
            "old_password": "operator-password",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    # then: the phone's session is no longer valid, and its console knows at once
    assert await closed_with(phone_console) == 4401


def operator_move_in_admin(operator, user) -> None:
    response = admin_client().post(
        f"/admin/distributor/operator/{operator.pk}/change/",
        {
            "user": user.pk,
            "display_name": operator.display_name,
            "chats": list(operator.chats.values_list("pk", flat=True)),
            "max_simultaneous_dialogs": operator.max_simultaneous_dialogs,
            # issue 11: the page's inline of channels served (none here)
            "channels-TOTAL_FORMS": "0",
            "channels-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Operator.objects.get(pk=operator.pk).user_id == user.pk


async def test_an_operator_profile_moved_to_another_user_closes_the_old_users_console(world):  # noqa: F811
    laptop = await sync_to_async(logged_in_client)(world["olga"].user)
    console = await console_with(laptop)
    successor = await sync_to_async(get_user_model().objects.create_user)(
        "successor", password=NEW_PASSWORD
    )
    # when
    await sync_to_async(operator_move_in_admin)(world["olga"], successor)
    # then
    assert await closed_with(console) == 4403


async def test_after_the_profile_moved_silently_accept_is_refused_and_closes(world):  # noqa: F811
    laptop = await sync_to_async(logged_in_client)(world["olga"].user)
    console = await console_with(laptop)
    successor = await sync_to_async(get_user_model().objects.create_user)(
        "successor", password=NEW_PASSWORD
    )
    # given: moved behind the socket's back (no event)
    await sync_to_async(
        lambda: Operator.objects.filter(pk=world["olga"].pk).update(user=successor)
    )()
    # when
    await console.send_json_to({"type": "accept", "request": world["mine"].pk})
    # then
    assert await closed_with(console) == 4403
    assert await sync_to_async(lambda: Request.objects.get(pk=world["mine"].pk).status)() == (
        "pending"
    )
