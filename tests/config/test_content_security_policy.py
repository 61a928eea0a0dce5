"""The Content-Security-Policy header: strict everywhere, and the widget frame may be framed
by the chat's allowed sites (any site when none is set)."""

import pytest
from django.core.exceptions import ValidationError

from tests.chats.factories import ChatFactory

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {
        name: sources
        for name, *sources in (part.split() for part in policy.split(";") if part.strip())
    }


def test_pages_get_a_strict_policy_and_may_not_be_framed(client):
    chat = ChatFactory()
    for url in (f"/demo/{chat.public_key}/", "/console/login/", "/admin/login/"):
        policy = directives(client.get(url))
        assert policy["script-src"] == ["'self'"], url
        assert "'unsafe-inline'" not in policy["style-src"], url
        assert policy["frame-ancestors"] == ["'none'"], url
        assert policy["object-src"] == ["'none'"], url
        assert {"ws://testserver", "wss://testserver"} <= set(policy["connect-src"]), url


def test_the_widget_frame_may_be_framed_by_any_site_when_the_chat_names_none(client):
    chat = ChatFactory(allowed_sites="")
    policy = directives(client.get(f"/widget/{chat.public_key}/"))
    assert policy["frame-ancestors"] == ["*"]
    assert policy["script-src"] == ["'self'"]


def test_the_widget_frame_may_be_framed_only_by_the_chats_allowed_sites(client):
    chat = ChatFactory(allowed_sites="https://shop.example.com\n\n  https://*.example.org/ \n")
    policy = directives(client.get(f"/widget/{chat.public_key}/"))
    # Baton's own demo page ('self') keeps working
    assert policy["frame-ancestors"] == [
        "'self'",
        "https://shop.example.com",
        "https://*.example.org",
    ]


@pytest.mark.parametrize(
    "sites",
    [
        "shop.example.com",
        "https://shop.example.com/path",
        "https://shop.example.com; script-src *",
        "javascript:alert(1)",
        "https://shop.example.com 'unsafe-inline'",
    ],
)
def test_an_allowed_site_that_is_not_a_plain_origin_is_refused(sites):
    chat = ChatFactory(allowed_sites="")
    chat.allowed_sites = sites
    with pytest.raises(ValidationError) as error:
        chat.full_clean()
    assert "allowed_sites" in error.value.message_dict
    chat.refresh_from_db()
    assert chat.allowed_sites == ""


def test_the_chat_admin_shows_the_allowed_sites(admin_client):
    chat = ChatFactory(allowed_sites="https://shop.example.com")
    page = admin_client.get(f"/admin/chats/chat/{chat.pk}/change/")
    assert page.context["adminform"].form["allowed_sites"].value() == "https://shop.example.com"
