"""Login throttling on the console and admin login pages (django-axes): 10 failures for one
username from one IP lock that pair out for 15 minutes, 50 failures from one IP lock the IP;
a success resets the pair, and the wait is over when the cool-off has passed. A try refused
by a lock is not a failure: it neither counts toward a limit nor extends the lock."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.utils import timezone

from config.runner import BASE_DIR
from tests.distributor.factories import UserFactory

PASSWORD = "operator-password"
LOCKED = "Too many failed attempts; try again in 15 minutes."
LOGIN_PAGES = ["/console/login/", "/admin/login/"]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashes(settings):
    # hundreds of logins: the production hasher would make this file take a minute
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def login(url: str, username: str, password: str, *, ip: str = "198.51.100.7") -> Client:
    client = Client(REMOTE_ADDR=ip)
    client.response = client.post(url, {"username": username, "password": password})
    return client


def logged_in(client: Client) -> bool:
    return SESSION_KEY in client.session


def fail(url: str, username: str, times: int, *, ip: str = "198.51.100.7") -> None:
    for _ in range(times):
        assert not logged_in(login(url, username, "wrong-password", ip=ip))


@pytest.fixture
def staff():
    return UserFactory(username="alice", is_staff=True, is_superuser=True)


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_the_right_password_after_ten_wrong_ones_is_refused_with_a_message(url, staff):
    # given
    fail(url, "alice", 10)
    # when
    client = login(url, "alice", PASSWORD)
    # then: no session, the login page again with the reason and how long to wait
    assert not logged_in(client)
    assert client.response.status_code == 429
    assert LOCKED in client.response.content.decode()
    assert b'name="password"' in client.response.content


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_nine_wrong_passwords_do_not_lock_and_a_success_starts_the_count_again(url, staff):
    fail(url, "alice", 9)
    assert logged_in(login(url, "alice", PASSWORD))
    fail(url, "alice", 9)
    assert logged_in(login(url, "alice", PASSWORD))


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_other_accounts_and_other_addresses_are_not_locked(url, staff):
    # given: alice is locked out from one address
    UserFactory(username="bob", is_staff=True)
    fail(url, "alice", 10)
    # then: bob from that address, and alice from another one, log in
    assert logged_in(login(url, "bob", PASSWORD))
    assert logged_in(login(url, "alice", PASSWORD, ip="203.0.113.9"))


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_the_lock_ends_after_the_cool_off(url, staff):
    # given
    fail(url, "alice", 10)
    assert not logged_in(login(url, "alice", PASSWORD))
    # when: the last failure was 15 minutes and a second ago
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    # then
    assert logged_in(login(url, "alice", PASSWORD))


def minutes_message(minutes: int) -> str:
    return f"Too many failed attempts; try again in {minutes} minutes."


def failures_recorded(ip: str = "198.51.100.7") -> int:
    return sum(
        AccessAttempt.objects.filter(ip_address=ip).values_list("failures_since_start", flat=True)
    )


def test_tries_refused_during_a_lock_are_not_failures_and_do_not_lock_the_address(staff):
    # given: t1 is locked from this address on the console page
    UserFactory(username="t1", is_staff=True)
    operator = UserFactory(username="operator", is_staff=True)
    fail("/console/login/", "t1", 10)
    # when: 45 more tries as t1, wrong and right passwords, on both login pages
    for number in range(45):
        url = LOGIN_PAGES[number % 2]
        client = login(url, "t1", PASSWORD if number % 3 == 0 else "wrong-password")
        assert not logged_in(client)
        assert client.response.status_code == 429
    # then: only the 10 real failures are recorded, and another account logs in from there
    assert failures_recorded() == 10
    assert logged_in(login("/console/login/", operator.username, PASSWORD))
    assert logged_in(login("/admin/login/", "alice", PASSWORD))


def test_the_address_limit_counts_real_failures_only_around_a_locked_account(staff):
    # given: t1 locked (10 failures) and retried 45 times while locked
    UserFactory(username="t1", is_staff=True)
    fail("/console/login/", "t1", 10)
    for _ in range(45):
        assert login("/console/login/", "t1", PASSWORD).response.status_code == 429
    # when: 39 real failures over usernames that are not locked (49 real in all)
    for number in range(13):
        fail("/admin/login/", f"guess{number}", 3)
    # then: not locked yet; the 50th real failure locks the address for everybody
    assert logged_in(login("/console/login/", "alice", PASSWORD))
    fail("/console/login/", "guess13", 1)
    client = login("/console/login/", "alice", PASSWORD)
    assert not logged_in(client)
    assert client.response.status_code == 429
    assert failures_recorded() == 50


def test_tries_refused_by_an_address_lock_are_not_recorded(staff):
    # given: the address is locked by 50 failures over 10 usernames
    for number in range(10):
        fail("/console/login/", f"guess{number}", 5)
    # when: more tries from that address
    for number in range(20):
        assert login("/admin/login/", f"guess{number}", "wrong").response.status_code == 429
    # then: nothing more is recorded; the lock ends 15 minutes after the last real failure
    assert failures_recorded() == 50
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    assert logged_in(login("/console/login/", "alice", PASSWORD))


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_a_refused_try_does_not_extend_the_lock_and_the_page_says_the_minutes_left(url, staff):
    # given: alice locked 9 minutes 30 seconds ago
    fail(url, "alice", 10)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=9, seconds=30))
    # when: she tries again, refused
    client = login(url, "alice", PASSWORD)
    # then: the page says what is left of the 15 minutes (5 1/2, rounded up)
    assert client.response.status_code == 429
    assert minutes_message(6) in client.response.content.decode()
    # and the lock still ends 15 minutes after her last real failure
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    assert logged_in(login(url, "alice", PASSWORD))


def test_an_address_that_tries_many_usernames_is_locked_for_all_of_them(staff):
    # given: 50 failures from one address, spread over 10 usernames (5 each: no pair locked)
    for number in range(10):
        fail("/console/login/", f"guess{number}", 5)
    # then: nobody logs in from that address, from another one alice does
    client = login("/console/login/", "alice", PASSWORD)
    assert not logged_in(client)
    assert LOCKED in client.response.content.decode()
    assert logged_in(login("/console/login/", "alice", PASSWORD, ip="203.0.113.9"))


def test_49_failures_from_one_address_do_not_lock_it(staff):
    for number in range(7):
        fail("/console/login/", f"guess{number}", 7)
    assert logged_in(login("/console/login/", "alice", PASSWORD))


# The client's address as axes sees it, computed by the real settings in a fresh process
# (they are read from the environment at start-up). REMOTE_ADDR is the proxy, 10.0.0.2.
CLIENT_ADDRESSES = """
import json, os
from axes.helpers import get_client_ip_address
from django.test import RequestFactory
answers = []
for forwarded_for in json.loads(os.environ["FORWARDED_FOR_CASES"]):
    meta = {"REMOTE_ADDR": "10.0.0.2"}
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    answers.append(get_client_ip_address(RequestFactory().get("/", **meta)))
print(json.dumps(answers))
"""


def client_addresses(header: str, proxy_count: str, forwarded_for: list[str | None]) -> list:
    env = {
        **os.environ,
        "CLIENT_IP_HEADER": header,
        "PROXY_COUNT": proxy_count,
        "FORWARDED_FOR_CASES": json.dumps(forwarded_for),
        "DEBUG": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CLIENT_ADDRESSES],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_without_a_proxy_header_the_address_is_remote_addr_whatever_the_client_sends():
    assert client_addresses("", "1", [None, "203.0.113.5", "192.0.2.66, 203.0.113.5"]) == [
        "10.0.0.2",
        "10.0.0.2",
        "10.0.0.2",
    ]


def test_behind_one_proxy_the_address_is_the_one_the_proxy_saw():
    # the proxy appends the address it saw to what the client sent: a client that sends
    # no header arrives as one entry; one that sends "1.2.3.4, 192.0.2.66" cannot move it
    assert client_addresses(
        "X-Forwarded-For",
        "1",
        [
            "203.0.113.5",
            " 203.0.113.5 ",
            "192.0.2.66, 203.0.113.5",
            "1.2.3.4, 192.0.2.66,203.0.113.5",
            "2001:DB8::5",
        ],
    ) == ["203.0.113.5", "203.0.113.5", "203.0.113.5", "203.0.113.5", "2001:db8::5"]


def test_behind_two_proxies_the_address_is_the_one_the_outer_proxy_saw():
    # the outer proxy appends the client, the inner one the outer proxy (10.0.0.1)
    assert client_addresses(
        "X-Forwarded-For",
        "2",
        ["203.0.113.5, 10.0.0.1", "1.2.3.4, 203.0.113.5, 10.0.0.1"],
    ) == ["203.0.113.5", "203.0.113.5"]


def test_a_missing_short_or_garbled_header_falls_back_to_remote_addr_never_none():
    # no header (a request that did not come through the proxy), fewer entries than
    # proxies, an entry that is not an address: the connection's own address
    assert client_addresses("X-Forwarded-For", "2", [None, "", "203.0.113.5", "x, y"]) == [
        "10.0.0.2",
        "10.0.0.2",
        "10.0.0.2",
        "10.0.0.2",
    ]
    assert client_addresses("X-Forwarded-For", "1", ["203.0.113.5, unknown", "300.1.1.1"]) == [
        "10.0.0.2",
        "10.0.0.2",
    ]


@pytest.fixture
def behind_a_proxy(settings):
    """What CLIENT_IP_HEADER=X-Forwarded-For and PROXY_COUNT=1 give (checked above)."""
    settings.BATON_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.BATON_PROXY_COUNT = 1


def login_through_proxy(url: str, username: str, password: str, *, client_ip: str) -> Client:
    client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=client_ip)
    client.response = client.post(url, {"username": username, "password": password})
    return client


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_behind_a_proxy_each_client_is_locked_on_its_own(url, staff, behind_a_proxy):
    # given: client A fails 10 times as alice, and tries 50 usernames, through the proxy
    for _ in range(10):
        client = login_through_proxy(url, "alice", "wrong-password", client_ip="203.0.113.5")
        assert not logged_in(client)
    for number in range(10):
        for _ in range(5):
            login_through_proxy(url, f"guess{number}", "wrong", client_ip="203.0.113.5")
    assert (
        login_through_proxy(url, "alice", PASSWORD, client_ip="203.0.113.5").response.status_code
        == 429
    )
    # then: client B, through the same proxy, logs in as alice
    assert logged_in(login_through_proxy(url, "alice", PASSWORD, client_ip="198.51.100.20"))
    assert not AccessAttempt.objects.filter(ip_address__in=[None, "10.0.0.2"]).exists()


def test_failures_from_an_unknown_address_never_lock_by_address(staff):
    # given: a request with no usable address (REMOTE_ADDR empty, as over a unix socket)
    # fails 50 times over 10 usernames
    for number in range(10):
        fail("/console/login/", f"guess{number}", 5, ip="")
    # then: they are not one address; alice logs in, without an address and with one
    assert logged_in(login("/console/login/", "alice", PASSWORD, ip=""))
    assert logged_in(login("/console/login/", "alice", PASSWORD))
