"""The analyst pages as their users walk them: one look and one nav on every page,
links that carry the filters from one page to the next (dialogs -> report chooser
-> dashboard -> dialogs of a day), empty states that say what to do, errors that
name their filter, a way back to the list one came from, a failed report that can
be built again, and a way from the admin to these pages."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from reports.enums import ReportJobStatus, ReportType
from reports.models import ReportJob
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory, UserFactory
from tests.reports.jobs_dataset import analyst_make, dataset_make

pytestmark = pytest.mark.django_db

LIST = "/reports/dialogs/"
JOBS = "/reports/jobs/"
DASHBOARD = "/reports/dashboard/"


@pytest.fixture
def data():
    return dataset_make()


@pytest.fixture
def analyst(client, data):
    client.force_login(analyst_make(chats=(data.shop,)))
    return client


def href_of(content: str, element_id: str) -> str:
    found = re.search(rf'<a href="([^"]*)" id="{element_id}"', content)
    assert found, f"no link #{element_id}"
    return found.group(1).replace("&amp;", "&")


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- one look, one nav ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url_name", "current"),
    [("dialog_list", "Dialogs"), ("job_list", "Reports"), ("dashboard", "Dashboard")],
)
def test_every_page_has_the_same_nav_with_its_own_link_marked(analyst, url_name, current):
    content = analyst.get(reverse(f"reports:{url_name}")).content.decode()

    nav = re.search(r'<nav class="main".*?</nav>', content, re.S).group(0)
    links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav)
    assert [(href, text) for href, _marked, text in links] == [
        (LIST, "Dialogs"),
        (JOBS, "Reports"),
        (DASHBOARD, "Dashboard"),
    ]
    assert [text for _href, marked, text in links if marked] == [current]
    assert 'action="/reports/logout/"' in content
    assert '<span class="username" dir="auto">analyst</span>' in content
    # one stylesheet for all of them
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', content) == [
        "/static/reports/reports.css"
    ]


def test_a_dialogs_page_marks_dialogs_in_the_nav(analyst, data):
    content = analyst.get(f"{LIST}{data.d1.session_id}/").content.decode()

    assert f'<a href="{LIST}" aria-current="page">Dialogs</a>' in content


def test_only_staff_get_the_link_to_the_admin(client, data):
    client.force_login(analyst_make(chats=(data.shop,)))
    assert "/admin/" not in client.get(LIST).content.decode()

    client.force_login(UserFactory(username="boss", is_staff=True))
    assert '<a href="/admin/">Admin site</a>' in client.get(LIST).content.decode()


def test_the_merged_stylesheets_are_gone_and_reports_css_has_their_rules():
    from django.contrib.staticfiles import finders

    assert finders.find("reports/jobs.css") is None
    assert finders.find("reports/dashboard.css") is None
    with open(finders.find("reports/reports.css"), encoding="utf-8") as stylesheet:
        css = stylesheet.read()
    for rule in (".job-progress", ".dashboard-chart", "@media (max-width: 640px)"):
        assert rule in css


def test_head_is_answered_like_get(analyst, data):
    for url in (LIST, JOBS, DASHBOARD, f"{LIST}{data.d1.session_id}/"):
        assert analyst.head(url).status_code == 200, url


# --- links that carry the filters ------------------------------------------------------


def test_the_viewer_leads_to_the_chooser_with_its_filters(analyst, data):
    query = (
        f"chat={data.shop.pk}&messenger=web&status=closed&date_from=2026-01-01"
        "&date_to=2026-01-31&text=order&marker=sale"
    )
    content = analyst.get(f"{LIST}?{query}").content.decode()

    chooser = href_of(content, "build-report")
    assert chooser.startswith(JOBS + "?")
    assert query_of(chooser) == query_of(LIST + "?" + query)
    page = analyst.get(chooser).content.decode()
    for part in ("chats: Shop", "channels: Web", "status: closed", "text contains “order”"):
        assert part in page


def test_the_viewer_leads_to_the_dashboard_with_chats_and_dates_only(analyst, data):
    content = analyst.get(
        f"{LIST}?chat={data.shop.pk}&messenger=web&date_from=2026-01-01&date_to=2026-01-31"
        "&text=order"
    ).content.decode()

    dashboard = href_of(content, "to-dashboard")
    # the dashboard has no channel or text filter: they are not carried there unseen
    assert query_of(dashboard) == {
        "chat": [str(data.shop.pk)],
        "date_from": ["2026-01-01"],
        "date_to": ["2026-01-31"],
    }
    assert analyst.get(dashboard).status_code == 200


def test_the_dashboard_leads_back_to_the_dialogs_of_its_chats_and_days(analyst, data):
    content = analyst.get(
        DASHBOARD, {"chat": data.shop.pk, "date_from": "2026-01-09", "date_to": "2026-01-11"}
    ).content.decode()

    dialogs = href_of(content, "to-dialogs")
    assert query_of(dialogs) == {
        "chat": [str(data.shop.pk)],
        "date_from": ["2026-01-09"],
        "date_to": ["2026-01-11"],
    }
    listed = analyst.get(dialogs).content.decode()
    assert "3 dialogs" in listed
    assert query_of(href_of(content, "build-report")) == query_of(dialogs)


def test_the_dashboard_with_its_default_range_links_to_that_range(analyst):
    content = analyst.get(DASHBOARD).content.decode()

    query = query_of(href_of(content, "to-dialogs"))
    assert "chat" not in query
    assert query["date_from"] and query["date_to"]


def test_each_day_of_the_dashboard_leads_to_that_days_dialogs(analyst, data):
    response = analyst.get(
        DASHBOARD, {"chat": data.shop.pk, "date_from": "2026-01-09", "date_to": "2026-01-11"}
    )
    content = response.content.decode()

    per_day = re.search(r'id="chart-dialogs-per-day" data-day-links.*?</figure>', content, re.S)
    links = re.findall(r'<a href="([^"]+)" data-day="([^"]+)">', per_day.group(0))
    assert [day for _href, day in links] == ["2026-01-09", "2026-01-10", "2026-01-11"]
    # 10 January (Rome): D1 only
    tenth = links[1][0].replace("&amp;", "&")
    assert query_of(tenth)["date_from"] == query_of(tenth)["date_to"] == ["2026-01-10"]
    listed = analyst.get(tenth).content.decode()
    assert "1 dialog<" in listed
    assert data.d1.session_id in listed
    # the bars name the same days the links do (dashboard.js follows them)
    assert set(re.findall(r'data-category="([^"]+)"', per_day.group(0))) == {
        day for _href, day in links
    }
    # the charts not by day have no such links
    ratings = re.search(r'id="chart-ratings".*?</figure>', content, re.S).group(0)
    assert "data-day=" not in ratings and "data-day-links" not in ratings


def test_a_month_of_a_long_range_leads_to_that_month_cut_to_the_range(analyst, data):
    content = analyst.get(
        DASHBOARD, {"chat": data.shop.pk, "date_from": "2025-12-15", "date_to": "2026-05-10"}
    ).content.decode()

    links = dict(
        (day, href.replace("&amp;", "&"))
        for href, day in re.findall(r'<a href="([^"]+)" data-day="([^"]+)">', content)
    )
    assert query_of(links["2025-12"])["date_from"] == ["2025-12-15"]
    assert query_of(links["2025-12"])["date_to"] == ["2025-12-31"]
    assert query_of(links["2026-02"])["date_to"] == ["2026-02-28"]
    assert query_of(links["2026-05"])["date_to"] == ["2026-05-10"]


def test_the_chooser_links_to_the_dialogs_and_dashboard_of_its_filters(analyst, data):
    content = analyst.get(f"{JOBS}?chat={data.shop.pk}&status=closed").content.decode()

    assert query_of(href_of(content, "to-dialogs")) == {
        "chat": [str(data.shop.pk)],
        "status": ["closed"],
    }
    assert query_of(href_of(content, "to-dashboard")) == {
        "chat": [str(data.shop.pk)],
    }


# --- empty states and errors -----------------------------------------------------------


def test_no_match_says_so_and_offers_to_clear_the_filters(analyst):
    content = analyst.get(LIST, {"text": "nothing like this"}).content.decode()

    empty = re.search(r'<div class="empty-state" id="no-dialogs">.*?</div>', content, re.S)
    assert "No dialogs match these filters." in empty.group(0)
    assert f'<a href="{LIST}">Clear filters</a>' in empty.group(0)


def test_no_dialog_at_all_is_not_blamed_on_filters(client):
    client.force_login(analyst_make(chats=(ChatFactory(name="Quiet"),)))

    content = client.get(LIST).content.decode()

    assert "No dialogs yet." in content
    assert "No dialogs match" not in content
    assert "Clear filters" not in content  # nothing to clear


def test_an_analyst_without_chats_is_told_whom_to_ask(client):
    DialogFactory()
    client.force_login(analyst_make())

    content = client.get(LIST).content.decode()

    assert "No chat is shared with you yet." in content
    assert "Ask an administrator" in content
    assert 'id="build-report"' not in content


def test_errors_name_the_filter_they_are_about(analyst):
    content = analyst.get(
        LIST, {"date_from": "2026-02-30", "status": "gone", "date_to": "soon"}
    ).content.decode()

    errors = re.findall(r'<span class="error-label">([^<]+)</span> — ([^<]+)</li>', content)
    assert errors == [
        ("Status", "Unknown status. (filter ignored)"),
        ("From", "Enter a date as YYYY-MM-DD. (filter ignored)"),
        ("To", "Enter a date as YYYY-MM-DD. (filter ignored)"),
    ]
    # garbage only: there is something to clear
    assert 'class="clear-filters"' in content


def test_the_dashboard_names_the_filter_of_its_notes(analyst):
    content = analyst.get(DASHBOARD, {"date_from": "yesterday"}).content.decode()

    assert '<span class="error-label">From</span> — Enter a date as YYYY-MM-DD.' in content


def test_a_long_chat_name_and_client_name_are_user_text(client):
    chat = ChatFactory(name="شركة " + "x" * 195)  # the longest a name may be (200)
    dialog = DialogFactory(client__chat=chat, client__name="עמית " + "y" * 195)
    client.force_login(analyst_make(chats=(chat,)))

    listed = client.get(LIST).content.decode()
    opened = client.get(f"{LIST}{dialog.session_id}/").content.decode()

    assert f'<td class="chat-name" dir="auto">{chat.name}</td>' in listed
    assert f'<td class="client" dir="auto">{dialog.client.name}</td>' in listed
    assert f'<dd dir="auto">{chat.name}</dd>' in opened
    # the tab's title stays short
    title = re.search(r"<title>(.*?)</title>", opened, re.S).group(1)
    assert len(title) < 140
    assert "עמית" in title and "شركة" in title


# --- one dialog: its title and the way back ------------------------------------------


def test_a_dialogs_title_names_its_client_and_chat(analyst, data):
    content = analyst.get(f"{LIST}{data.d1.session_id}/").content.decode()

    assert "<title>Dialog with Anna · Shop — Baton analytics</title>" in content


def test_back_leads_to_the_list_one_came_from(analyst, data):
    came_from = f"http://testserver{LIST}?chat={data.shop.pk}&status=closed&text=order&page=2"
    content = analyst.get(
        f"{LIST}{data.d1.session_id}/", headers={"referer": came_from}
    ).content.decode()

    back = href_of(content, "back-to-list")
    assert query_of(back) == {
        "chat": [str(data.shop.pk)],
        "status": ["closed"],
        "text": ["order"],
        "page": ["2"],
    }
    assert "Back to the dialogs" in content


@pytest.mark.parametrize(
    "referer",
    [
        "",
        "https://evil.example/reports/dialogs/?chat=1",
        "http://testserver/reports/jobs/?chat=1",
        "javascript:alert(1)",
        "http://testserver/reports/dialogs/?page=%C2%B2&text=%00x",
    ],
)
def test_back_without_a_list_to_go_back_to_is_the_chats_dialogs(analyst, data, referer):
    content = analyst.get(
        f"{LIST}{data.d1.session_id}/", headers={"referer": referer}
    ).content.decode()

    back = href_of(content, "back-to-list")
    assert back.startswith(LIST)
    assert "evil" not in back and "javascript" not in back and "²" not in back
    if "testserver/reports/dialogs/" not in referer:
        assert back == f"{LIST}?chat={data.shop.pk}"
        assert "Dialogs of" in content


# --- reports: dates, wording, a failed job built again --------------------------------


def test_jobs_show_times_like_the_other_pages(analyst, data):
    owner = analyst.get(JOBS).wsgi_request.user
    job = ReportJob.objects.create(
        owner=owner,
        report_type=ReportType.ALL_SESSIONS,
        filters={"chat": [data.shop.pk]},
        status=ReportJobStatus.QUEUED,
    )

    content = analyst.get(JOBS).content.decode()

    shown = timezone.localtime(job.created_at).strftime("%Y-%m-%d %H:%M UTC")
    assert f'<td class="nowrap" data-label="Asked at">{shown}</td>' in content


def test_the_chooser_calls_an_operator_an_operator(analyst, data):
    content = analyst.get(JOBS, {"operator": data.marco.pk}).content.decode()

    assert "operator: Marco" in content


def test_a_failed_report_can_be_built_again_with_its_filters(analyst, data):
    owner = analyst.get(JOBS).wsgi_request.user
    failed = ReportJob.objects.create(
        owner=owner,
        report_type=ReportType.BOT_VS_OPERATOR,
        filters={"chat": [data.shop.pk], "status": "closed"},
        with_times=True,
        status=ReportJobStatus.FAILED,
        error="OperationalError: database is locked",
    )
    queued = ReportJob.objects.create(
        owner=owner, report_type=ReportType.ALL_SESSIONS, filters={}, status="queued"
    )

    content = analyst.get(JOBS).content.decode()

    row = re.search(rf'jobs/{failed.pk}/status".*?</tr>', content, re.S)
    form = re.search(r'<form method="post" class="job-again">.*?</form>', row.group(0), re.S)
    assert form, "a failed job offers to build it again"
    carried = re.search(r'name="filters" value="([^"]+)"', form.group(0)).group(1)
    assert query_of("?" + carried.replace("&amp;", "&")) == {
        "chat": [str(data.shop.pk)],
        "status": ["closed"],
    }
    assert 'name="report_type" value="bot_vs_operator"' in form.group(0)
    assert 'name="with_times" value="on"' in form.group(0)
    other = re.search(rf'jobs/{queued.pk}/status".*?</tr>', content, re.S)
    # still being built: the form is there for jobs.js, hidden
    assert '<form method="post" class="job-again" hidden>' in other.group(0)

    # when: they press it
    response = analyst.post(
        JOBS,
        {
            "filters": f"chat={data.shop.pk}&status=closed",
            "report_type": "bot_vs_operator",
            "with_times": "on",
        },
    )

    assert response.status_code == 302
    again = ReportJob.objects.exclude(pk__in=[failed.pk, queued.pk]).get()
    assert (again.report_type, again.with_times) == ("bot_vs_operator", True)
    assert again.status == "queued"
    assert again.filters == failed.filters


def test_no_reports_yet_says_how_to_get_one(analyst):
    content = analyst.get(JOBS).content.decode()

    assert '<div class="empty-state" id="no-jobs">' in content
    assert "press Build" in content


# --- admin --------------------------------------------------------------------------


def test_staff_find_the_analyst_pages_from_the_admin(admin_client):
    index = admin_client.get("/admin/").content.decode()

    assert f'<a href="{LIST}" id="analyst-pages-link">Dialogs and reports</a>' in index
    assert '<div class="module" id="analyst-pages">' in index
    for url in (LIST, JOBS, DASHBOARD):
        assert f'<a href="{url}">' in index
    # and on every admin page
    chats = admin_client.get("/admin/chats/chat/").content.decode()
    assert 'id="analyst-pages-link"' in chats


def test_the_chat_lists_view_dialogs_opens_that_chats_dialogs_for_staff(admin_client):
    chat = ChatFactory(name="Shop")
    other = ChatFactory(name="Other")
    mine = DialogFactory(client__chat=chat)
    theirs = DialogFactory(client__chat=other)
    OperatorFactory(display_name="Olga", chats=[chat])

    listing = admin_client.get("/admin/chats/chat/").content.decode()
    link = f"{LIST}?chat={chat.pk}"
    assert f'<a href="{link}">view dialogs</a>' in listing

    response = admin_client.get(link)

    assert response.status_code == 200
    content = response.content.decode()
    assert mine.session_id in content
    assert theirs.session_id not in content
    assert f'<option value="{chat.pk}" selected>Shop</option>' in content


def test_a_wrong_password_keeps_the_username(client):
    UserFactory(username="ann")

    content = client.post(
        "/reports/login/", {"username": "ann", "password": "wrong"}
    ).content.decode()

    assert 'value="ann"' in content
    assert "Wrong username or password." in content
