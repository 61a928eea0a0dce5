"""The analysts' login page, as an attacker would try it: `next` pointing back at the
login page itself, and `next` pointing to another site."""

from __future__ import annotations

import pytest

from tests.reports.test_access import make_analyst

pytestmark = pytest.mark.django_db

LOGIN = "/reports/login/"


@pytest.mark.parametrize(
    "next_url", [LOGIN, f"{LOGIN}?next={LOGIN}", f"{LOGIN}?a=1", "http://testserver/reports/login/"]
)
def test_a_logged_in_user_sent_back_to_the_login_page_gets_the_dialogs_not_a_500(client, next_url):
    client.force_login(make_analyst("ann"))

    response = client.get(LOGIN, {"next": next_url})

    assert response.status_code == 302
    assert response["Location"] == "/reports/dialogs/"


def test_logging_in_with_next_at_the_login_page_lands_on_the_dialogs(client):
    user = make_analyst("ann")
    user.set_password("right-password-1")
    user.save()

    response = client.post(
        LOGIN, {"username": "ann", "password": "right-password-1", "next": LOGIN}
    )

    assert response.status_code == 302
    assert response["Location"] == "/reports/dialogs/"


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"],
)
def test_next_to_another_site_is_neither_echoed_nor_followed(client, next_url):
    user = make_analyst("ann")
    user.set_password("right-password-1")
    user.save()

    page = client.get(LOGIN, {"next": next_url})
    response = client.post(
        LOGIN, {"username": "ann", "password": "right-password-1", "next": next_url}
    )

    assert "evil.example" not in page.content.decode()
    assert "javascript:" not in page.content.decode()
    assert response.status_code == 302
    assert response["Location"] == "/reports/dialogs/"


def test_a_good_next_is_still_followed(client):
    user = make_analyst("ann")
    user.set_password("right-password-1")
    user.save()

    response = client.post(
        LOGIN,
        {"username": "ann", "password": "right-password-1", "next": "/reports/jobs/?chat=1"},
    )

    assert response["Location"] == "/reports/jobs/?chat=1"
