"""Scheduling a report in Admin: the filters as a form, the next run computed on save,
bad input refused with a clear error and nothing saved, and "run now"."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from reports.access import ANALYST_GROUP
from reports.models import AnalystChatGrant, ReportJob, ScheduledReport
from telegram_bridge.models import OperatorAccount, TelegramBot
from tests.chats.factories import ChatFactory
from tests.distributor.factories import OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:reports_scheduledreport_add")
LIST_URL = reverse("admin:reports_scheduledreport_changelist")


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def shop():
    return ChatFactory(name="Shop")


@pytest.fixture
def analyst(shop):
    user = UserFactory(username="anna")
    user.groups.add(Group.objects.get_or_create(name=ANALYST_GROUP)[0])
    AnalystChatGrant.objects.create(user=user, chat=shop)
    return user


def form(analyst, shop, **changes) -> dict:
    data = {
        "name": "Weekly sessions",
        "owner": analyst.pk,
        "enabled": "on",
        "report_type": "all_sessions",
        "period": "previous_7_days",
        "chats": [shop.pk],
        "messengers": ["telegram", "web"],
        "status": "closed",
        "marker": "",
        "operator": "",
        "text": "",
        "frequency": "weekly",
        "weekday": "0",
        "hour": "8",
        "time_zone": "Europe/Rome",
        "email_to": "boss@example.com\r\n\r\nteam@example.org",
        "telegram_operator": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_saving_a_schedule_stores_the_filters_and_computes_the_next_run(
    admin_client, analyst, shop
):
    response = admin_client.post(ADD_URL, form(analyst, shop))
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = ScheduledReport.objects.get()
    assert schedule.filters == {
        "chat": [shop.pk],
        "messenger": ["telegram", "web"],
        "status": "closed",
    }
    assert schedule.period == "previous_7_days"
    assert schedule.email_to == "boss@example.com\nteam@example.org"
    local = schedule.next_run_at.astimezone(ZoneInfo("Europe/Rome"))
    assert (local.weekday(), local.hour, local.minute) == (0, 8, 0)
    assert timezone.now() < schedule.next_run_at <= timezone.now() + datetime.timedelta(days=7)


def test_the_change_page_shows_the_saved_filters_as_the_form(admin_client, analyst, shop):
    admin_client.post(ADD_URL, form(analyst, shop, marker="vip"))
    schedule = ScheduledReport.objects.get()
    page = admin_client.get(reverse("admin:reports_scheduledreport_change", args=[schedule.pk]))
    assert page.status_code == 200
    initial = page.context["adminform"].form.initial
    assert initial["chats"] == [shop.pk]
    assert initial["messengers"] == ["telegram", "web"]
    assert initial["marker"] == "vip"
    assert b"last error" in page.content.lower()


def test_editing_the_hour_moves_the_next_run(admin_client, analyst, shop):
    admin_client.post(ADD_URL, form(analyst, shop))
    schedule = ScheduledReport.objects.get()
    url = reverse("admin:reports_scheduledreport_change", args=[schedule.pk])
    response = admin_client.post(url, form(analyst, shop, frequency="daily", hour="23"))
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert schedule.next_run_at.astimezone(ZoneInfo("Europe/Rome")).hour == 23


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"email_to": "", "telegram_operator": ""}, "Say where the report goes"),
        ({"email_to": "boss@example.com\r\nnot an address"}, "e-mail address: not an address"),
        ({"email_to": "boss@example.com\r\nBcc: spy@evil.test"}, "Not an e-mail address"),
        ({"hour": "99"}, "Select a valid choice"),
        ({"hour": "-1"}, "Select a valid choice"),
        ({"weekday": "9"}, "Select a valid choice"),
        ({"time_zone": "Mars/Olympus"}, "is not a time zone"),
        ({"status": "bogus"}, "Select a valid choice"),
        ({"messengers": ["fax"]}, "Select a valid choice"),
        ({"chats": ["999999999"]}, "Select a valid choice"),
        ({"chats": ["1e9"]}, "is not a valid value"),
        ({"report_type": "passwords"}, "Select a valid choice"),
        ({"period": "forever"}, "Select a valid choice"),
        ({"marker": "m" * 101}, "at most 100 characters"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_nothing_saved(
    admin_client, analyst, shop, changes, error
):
    response = admin_client.post(ADD_URL, form(analyst, shop, **changes))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert ScheduledReport.objects.count() == 0


def test_the_owner_must_be_able_to_read_the_chosen_chats(admin_client, analyst, shop):
    secret = ChatFactory(name="Secret chat")
    response = admin_client.post(ADD_URL, form(analyst, shop, chats=[shop.pk, secret.pk]))
    assert response.status_code == 200
    assert "anna may not read Secret chat." in response.content.decode()
    assert ScheduledReport.objects.count() == 0


def test_the_owner_must_be_an_analyst_or_staff(admin_client, analyst, shop):
    outsider = UserFactory(username="outsider")
    response = admin_client.post(ADD_URL, form(analyst, shop, owner=outsider.pk, chats=[]))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert ScheduledReport.objects.count() == 0


def test_a_telegram_manager_must_be_connected(admin_client, analyst, shop):
    unconnected = OperatorFactory(display_name="Luca")
    response = admin_client.post(
        ADD_URL, form(analyst, shop, email_to="", telegram_operator=unconnected.pk)
    )
    assert response.status_code == 200
    assert "Luca has no active Telegram account" in response.content.decode()
    assert ScheduledReport.objects.count() == 0


def test_a_connected_telegram_manager_alone_is_a_destination(admin_client, analyst, shop):
    manager = OperatorFactory(display_name="Marta")
    bot = TelegramBot.objects.create(chat=shop, token="1:admin-test", username="shop_bot")
    OperatorAccount.objects.create(bot=bot, operator=manager, telegram_user_id=77)
    response = admin_client.post(
        ADD_URL, form(analyst, shop, email_to="", telegram_operator=manager.pk)
    )
    assert response.status_code == 302
    assert ScheduledReport.objects.get().telegram_operator == manager


def test_the_list_shows_when_and_where(admin_client, analyst, shop):
    admin_client.post(ADD_URL, form(analyst, shop))
    page = admin_client.get(LIST_URL)
    assert page.status_code == 200
    assert "Monday 08:00 Europe/Rome" in page.content.decode()
    assert "boss@example.com" in page.content.decode()


def test_run_now_makes_a_job_at_once(admin_client, analyst, shop):
    admin_client.post(ADD_URL, form(analyst, shop))
    schedule = ScheduledReport.objects.get()
    next_run = schedule.next_run_at
    response = admin_client.post(
        LIST_URL, {"action": "run_now", "_selected_action": [schedule.pk]}, follow=True
    )
    assert response.status_code == 200
    job = ReportJob.objects.get()
    assert job.schedule == schedule
    assert job.filters["chat"] == [shop.pk]
    assert "date_from" in job.filters
    assert f"report #{job.pk} is being built" in response.content.decode()
    schedule.refresh_from_db()
    assert schedule.next_run_at == next_run


def test_run_now_for_an_owner_who_lost_access_says_why(admin_client, analyst, shop):
    admin_client.post(ADD_URL, form(analyst, shop))
    schedule = ScheduledReport.objects.get()
    analyst.groups.clear()
    response = admin_client.post(
        LIST_URL, {"action": "run_now", "_selected_action": [schedule.pk]}, follow=True
    )
    assert "may no longer read reports" in response.content.decode()
    assert ReportJob.objects.count() == 0
