"""An open console when the operator's access changes behind it (issue 8, item 7), in a
real browser: an administrator deactivates the account, deletes the operator profile or
takes a chat away in the admin (the path that tells open consoles), and the console
says so - it stops reconnecting once the server closed it for good, and it clears a
request it can no longer see."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from distributor.models import Operator
from handoff.management.commands.load_demo import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    OPERATOR_USERNAME,
)
from tests.handoff.test_console_browser import (
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)
from tests.servers import DaphneServer

SESSION_ENDED = "Your session has ended."
NOT_AN_OPERATOR = "This account is no longer an operator."
UNAVAILABLE = "This request is no longer available to you."
# longer than the console's longest reconnect backoff (15 s, plus its jitter)
PAST_EVERY_BACKOFF_MS = 60_000

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(django_db_setup, django_db_blocker, redis_url):
    """A Daphne of this test's own, on the test database. Not the suite's shared one:
    the admin writes a LogEntry through Django's ContentType cache, which in a
    long-lived server still holds the ids of before the last test's flush (the
    content types are made anew with new ids) and so fails its foreign key."""
    from django.db import connection

    with django_db_blocker.unblock():
        database_name = connection.settings_dict["NAME"]
    server = DaphneServer(redis_url=redis_url, database_name=str(database_name)).start()
    yield server
    server.stop()


def console_with_socket_count(page, server) -> list[object]:
    """The operator logged in on a page whose clock the test drives (so "no reconnect
    later" is checked by running the page's timers, not by waiting). Returns the
    websockets the page opens, as they open."""
    sockets: list[object] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    page.clock.install()
    operator_logs_in(page, server)
    assert len(sockets) == 1
    return sockets


def admin_logs_in(page, server) -> None:
    page.goto(f"{server.http_url}/admin/login/")
    page.locator("input[name=username]").fill(ADMIN_USERNAME)
    page.locator("input[name=password]").fill(ADMIN_PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page).to_have_url(f"{server.http_url}/admin/")


def assert_no_reconnect(console, sockets) -> None:
    """Every reconnect timer the console could have set fires now: still one socket."""
    console.clock.run_for(PAST_EVERY_BACKOFF_MS)
    # a round trip through the page: a socket opened by the timers is reported by now
    assert console.evaluate("() => document.readyState") == "complete"
    assert len(sockets) == 1
    assert console.url.endswith("/console/")


def test_a_deactivated_operator_is_told_the_session_ended_and_not_reconnected(site, new_page):
    # given: the operator's console is open
    demo_chat_with_handoff()
    console = new_page()
    sockets = console_with_socket_count(console, site)
    operator = Operator.objects.get(user__username=OPERATOR_USERNAME).user

    # when: an administrator deactivates the account in the admin
    admin = new_page()
    admin_logs_in(admin, site)
    admin.goto(f"{site.http_url}/admin/auth/user/{operator.pk}/change/")
    admin.locator("#id_is_active").uncheck()
    admin.locator("input[name=_save]").click()
    expect(admin).to_have_url(f"{site.http_url}/admin/auth/user/")

    # then: the console says the session ended, links to the login, and stays closed
    ended = console.locator("#ended")
    expect(ended).to_be_visible()
    expect(ended).to_contain_text(SESSION_ENDED)
    expect(ended.locator("a")).to_have_attribute("href", "/console/login/")
    expect(console.locator("#connection")).not_to_have_text("Reconnecting…")
    assert_no_reconnect(console, sockets)


def test_logging_out_ends_the_session_in_every_console_tab(site, new_page):
    # given: the operator has the console open in two tabs of one browser
    demo_chat_with_handoff()
    console = new_page()
    sockets = console_with_socket_count(console, site)
    other_tab = console.context.new_page()
    other_tab.goto(f"{site.http_url}/console/")
    expect(other_tab.locator("#connection")).to_have_text("")

    # when: they log out in the other tab (the header's Log out)
    other_tab.locator("#logout").click()

    # then: that tab is at the login page, and this one says the session ended
    expect(other_tab).to_have_url(f"{site.http_url}/console/login/")
    ended = console.locator("#ended")
    expect(ended).to_contain_text(SESSION_ENDED)
    expect(ended.locator("a")).to_have_attribute("href", "/console/login/")
    assert_no_reconnect(console, sockets)


def test_an_operator_whose_profile_is_deleted_is_told_and_not_reconnected(site, new_page):
    # given: the operator's console is open
    demo_chat_with_handoff()
    console = new_page()
    sockets = console_with_socket_count(console, site)
    operator = Operator.objects.get(user__username=OPERATOR_USERNAME)

    # when: an administrator deletes the operator profile in the admin
    admin = new_page()
    admin_logs_in(admin, site)
    admin.goto(f"{site.http_url}/admin/distributor/operator/{operator.pk}/delete/")
    admin.locator("#content form input[type=submit]").click()
    expect(admin).to_have_url(f"{site.http_url}/admin/distributor/operator/")

    # then: the console says this account is no longer an operator, with a way to log out
    ended = console.locator("#ended")
    expect(ended).to_be_visible()
    expect(ended).to_contain_text(NOT_AN_OPERATOR)
    assert_no_reconnect(console, sockets)

    # when: they log out from the message
    ended.get_by_role("button", name="Log out").click()

    # then: they are logged out, at the login page
    expect(console).to_have_url(f"{site.http_url}/console/login/")
    console.goto(f"{site.http_url}/console/")
    expect(console).to_have_url(f"{site.http_url}/console/login/?next=/console/")


def test_a_watched_request_of_a_chat_taken_away_is_cleared(site, new_page):
    # given: the operator watches a visitor's waiting request
    demo_chat_with_handoff()
    console = new_page()
    operator_logs_in(console, site)
    widget = visitor_opens_the_chat(new_page(), site)
    widget.locator("#baton-headset").click()
    console.locator("#list-pending li").click()
    expect(console.locator("#accept")).to_be_visible()
    expect(console.locator("#reply-text")).to_be_enabled()
    operator = Operator.objects.get(user__username=OPERATOR_USERNAME)
    assert operator.chats.count() == 1

    # when: an administrator takes the chat away from the operator in the admin
    admin = new_page()
    admin_logs_in(admin, site)
    admin.goto(f"{site.http_url}/admin/distributor/operator/{operator.pk}/change/")
    admin.locator("#id_chats_remove_all").click()
    admin.locator("input[name=_save]").click()
    expect(admin).to_have_url(f"{site.http_url}/admin/distributor/operator/")
    assert operator.chats.count() == 0

    # then: the request leaves the lists and the detail pane, which says why
    expect(console.locator("#list-pending li")).to_have_count(0)
    expect(console.locator("#detail")).to_be_hidden()
    expect(console.locator("#empty")).to_have_text(UNAVAILABLE)
    expect(console.locator("#reply-text")).to_be_disabled()
    expect(console).to_have_url(f"{site.http_url}/console/")
    expect(console.locator("#notices .notice")).to_have_count(0)
