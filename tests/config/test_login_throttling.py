"""Login throttling on the console and admin login pages (django-axes): 10 failures for one
username from one IP lock that pair out for 15 minutes, 50 failures from one IP lock the IP;
a success resets the pair, and the wait is over when the cool-off has passed."""

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


CLIENT_ADDRESS = """
from axes.helpers import get_client_ip_address
from django.test import RequestFactory
request = RequestFactory().get(
    "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.66, 203.0.113.5"
)
print(get_client_ip_address(request))
"""


@pytest.mark.parametrize(
    ("header", "address"),
    [("", "10.0.0.2"), ("X-Forwarded-For", "203.0.113.5")],
)
def test_the_client_address_is_remote_addr_unless_a_proxy_header_is_named(header, address):
    # the proxy appends the address it saw to what the client sent (192.0.2.66 is forged)
    env = {**os.environ, "CLIENT_IP_HEADER": header, "DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CLIENT_ADDRESS],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == address
