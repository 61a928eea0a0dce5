"""Who may read which chats (reports.access), the viewer's pages per kind of user,
and the admin where grants are given."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from chats.models import Chat
from reports.access import (
    ANALYST_GROUP,
    chat_ids_for_analyst,
    chats_for_analyst,
    is_analyst,
)
from reports.models import AnalystChatGrant
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import UserFactory

pytestmark = pytest.mark.django_db


def make_analyst(username: str, chats=(), **fields):
    user = UserFactory(username=username, **fields)
    user.groups.add(Group.objects.get_or_create(name=ANALYST_GROUP)[0])
    for chat in chats:
        AnalystChatGrant.objects.create(user=user, chat=chat)
    return user


def test_staff_read_every_chat():
    first, second = ChatFactory(), ChatFactory()
    staff = UserFactory(username="boss", is_staff=True)

    assert is_analyst(staff)
    assert chat_ids_for_analyst(staff) == {first.pk, second.pk}


def test_an_analyst_reads_only_the_chats_granted():
    granted, _other = ChatFactory(), ChatFactory()
    analyst = make_analyst("ann", chats=[granted])

    assert is_analyst(analyst)
    assert list(chats_for_analyst(analyst)) == [granted]


def test_an_analyst_without_grants_reads_nothing():
    ChatFactory()
    analyst = make_analyst("nogrants")

    assert is_analyst(analyst)
    assert chat_ids_for_analyst(analyst) == set()


def test_a_user_outside_the_group_reads_nothing_even_with_a_grant():
    chat = ChatFactory()
    user = UserFactory(username="plain")
    AnalystChatGrant.objects.create(user=user, chat=chat)

    assert not is_analyst(user)
    assert chat_ids_for_analyst(user) == set()


def test_a_deactivated_analyst_or_staff_reads_nothing():
    chat = ChatFactory()
    analyst = make_analyst("gone", chats=[chat], is_active=False)
    staff = UserFactory(username="oldboss", is_staff=True, is_active=False)

    assert chat_ids_for_analyst(analyst) == set()
    assert chat_ids_for_analyst(staff) == set()


def test_anonymous_reads_nothing():
    from django.contrib.auth.models import AnonymousUser

    ChatFactory()
    assert not is_analyst(AnonymousUser())
    assert chat_ids_for_analyst(AnonymousUser()) == set()


def test_a_grant_goes_when_its_chat_is_deleted():
    chat = ChatFactory()
    analyst = make_analyst("ann", chats=[chat])

    Chat.objects.filter(pk=chat.pk).delete()

    assert chat_ids_for_analyst(analyst) == set()
    assert not AnalystChatGrant.objects.exists()


# --- the viewer's pages ---------------------------------------------------------


def test_anonymous_is_sent_to_the_login_and_back(client):
    dialog = DialogFactory()
    for path in ("/reports/dialogs/", f"/reports/dialogs/{dialog.session_id}/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/reports/login/?next=")


def test_a_logged_in_user_who_is_no_analyst_gets_403_and_a_way_out(client):
    dialog = DialogFactory()
    client.force_login(UserFactory(username="operator-only"))

    listed = client.get("/reports/dialogs/")
    opened = client.get(f"/reports/dialogs/{dialog.session_id}/")

    assert listed.status_code == opened.status_code == 403
    assert "is not an analyst" in listed.content.decode()
    assert dialog.session_id not in opened.content.decode()
    assert 'action="/reports/logout/"' in listed.content.decode()


def test_logging_out_ends_the_session(client):
    client.force_login(make_analyst("ann"))
    assert client.get("/reports/dialogs/").status_code == 200

    response = client.post("/reports/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/reports/login/"
    assert client.get("/reports/dialogs/").status_code == 302


def test_an_analyst_opens_a_dialog_of_a_granted_chat(client):
    dialog = DialogFactory()
    client.force_login(make_analyst("ann", chats=[dialog.chat]))

    response = client.get(f"/reports/dialogs/{dialog.session_id}/")

    assert response.status_code == 200
    assert dialog.session_id in response.content.decode()


def test_a_dialog_of_a_chat_not_granted_is_not_found_like_an_unknown_one(client):
    mine, theirs = DialogFactory(), DialogFactory()
    client.force_login(make_analyst("ann", chats=[mine.chat]))

    assert client.get(f"/reports/dialogs/{theirs.session_id}/").status_code == 404
    assert client.get("/reports/dialogs/" + "0" * 32 + "/").status_code == 404


def test_staff_open_any_dialog(client):
    dialog = DialogFactory()
    client.force_login(UserFactory(username="boss", is_staff=True))

    assert client.get(f"/reports/dialogs/{dialog.session_id}/").status_code == 200


def test_the_list_never_shows_a_dialog_of_a_chat_not_granted(client):
    mine, theirs = DialogFactory(), DialogFactory()
    client.force_login(make_analyst("ann", chats=[mine.chat]))

    # even when asked for the other chat by id
    for query in ("", f"?chat={theirs.chat_id}", f"?chat={theirs.chat_id}&chat={mine.chat_id}"):
        content = client.get("/reports/dialogs/" + query).content.decode()
        assert theirs.session_id not in content
        assert theirs.chat.name not in content
    assert mine.session_id in client.get("/reports/dialogs/").content.decode()


def test_the_viewer_refuses_writes(client):
    dialog = DialogFactory()
    client.force_login(UserFactory(username="boss", is_staff=True))

    assert client.post("/reports/dialogs/").status_code == 405
    assert client.post(f"/reports/dialogs/{dialog.session_id}/").status_code == 405


def test_an_analyst_logs_in_on_the_reports_login(client):
    make_analyst("ann")

    response = client.post(
        "/reports/login/?next=/reports/dialogs/",
        {"username": "ann", "password": "operator-password", "next": "/reports/dialogs/"},
        REMOTE_ADDR="127.0.0.1",
    )

    assert response.status_code == 302
    assert response["Location"] == "/reports/dialogs/"
    assert client.get("/reports/dialogs/").status_code == 200


def test_the_login_refuses_a_wrong_password(client):
    make_analyst("ann")

    response = client.post(
        "/reports/login/", {"username": "ann", "password": "wrong"}, REMOTE_ADDR="127.0.0.1"
    )

    assert response.status_code == 200
    assert "Wrong username or password." in response.content.decode()
    assert client.get("/reports/dialogs/").status_code == 302


# --- the admin ------------------------------------------------------------------


def test_an_admin_grants_a_chat_to_an_analyst(admin_client):
    chat = ChatFactory()
    analyst = make_analyst("ann")

    response = admin_client.post(
        "/admin/reports/analystchatgrant/add/", {"user": analyst.pk, "chat": chat.pk}
    )

    assert response.status_code == 302
    assert chat_ids_for_analyst(analyst) == {chat.pk}


def test_the_grant_admin_offers_only_active_users(admin_client):
    chat = ChatFactory()
    gone = make_analyst("gone", is_active=False)

    form_page = admin_client.get("/admin/reports/analystchatgrant/add/").content.decode()
    response = admin_client.post(
        "/admin/reports/analystchatgrant/add/", {"user": gone.pk, "chat": chat.pk}
    )

    assert f'value="{gone.pk}"' not in form_page
    assert response.status_code == 200  # the form again, with its error
    assert not AnalystChatGrant.objects.exists()


def test_the_same_chat_cannot_be_granted_twice(admin_client):
    chat = ChatFactory()
    analyst = make_analyst("ann", chats=[chat])

    response = admin_client.post(
        "/admin/reports/analystchatgrant/add/", {"user": analyst.pk, "chat": chat.pk}
    )

    assert response.status_code == 200
    assert AnalystChatGrant.objects.count() == 1


def test_the_grant_list_shows_whether_the_user_is_an_analyst(admin_client):
    chat = ChatFactory()
    make_analyst("ann", chats=[chat])
    AnalystChatGrant.objects.create(user=UserFactory(username="notyet"), chat=chat)

    content = admin_client.get("/admin/reports/analystchatgrant/").content.decode()

    assert "ann" in content and "notyet" in content
    assert content.count('alt="True"') == 1
    assert content.count('alt="False"') == 1


def test_the_user_page_edits_the_chats_an_analyst_may_read(admin_client):
    chat = ChatFactory()
    analyst = make_analyst("ann")
    page = admin_client.get(f"/admin/auth/user/{analyst.pk}/change/")
    assert "chats this analyst may read" in page.content.decode().lower()
    form = page.context["adminform"].form
    data = {
        key: value
        for key, value in form.initial.items()
        if key in form.fields and value is not None and key not in ("groups", "user_permissions")
    }
    data.update(
        {
            "groups": [group.pk for group in analyst.groups.all()],
            "date_joined_0": analyst.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": analyst.date_joined.strftime("%H:%M:%S"),
            "analyst_chat_grants-TOTAL_FORMS": "1",
            "analyst_chat_grants-INITIAL_FORMS": "0",
            "analyst_chat_grants-0-chat": str(chat.pk),
        }
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)

    response = admin_client.post(f"/admin/auth/user/{analyst.pk}/change/", data)

    assert response.status_code == 302, response.context and response.context.get("errors")
    assert chat_ids_for_analyst(analyst) == {chat.pk}
