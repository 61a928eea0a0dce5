"""The dashboard: who may see it, which chats' numbers it shows, and the charts'
SVG parsed back (bars, labels, the SLA line) on the hand-computed dataset."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from reports.access import ANALYST_GROUP
from reports.models import AnalystChatGrant
from tests.distributor.factories import UserFactory
from tests.reports.metrics_dataset import build_dataset

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
MARCH = {"date_from": "2026-03-01", "date_to": "2026-03-31"}


@pytest.fixture
def dataset():
    return build_dataset()


def _analyst(*chats):
    user = UserFactory(username="analyst-a")
    user.groups.add(Group.objects.get(name=ANALYST_GROUP))
    for chat in chats:
        AnalystChatGrant.objects.create(user=user, chat=chat)
    return user


def _charts(content: str) -> dict[str, ET.Element]:
    """Each chart's <svg>, parsed as XML (so it must be well-formed), by its key."""
    charts = {}
    for markup in re.findall(r"<svg .*?</svg>", content, flags=re.DOTALL):
        svg = ET.fromstring(markup)  # noqa: S314 - our own page, in a test
        key = svg.get("aria-labelledby").split()[0].removesuffix("-title")
        charts[key] = svg
    return charts


def _bars(svg: ET.Element) -> dict[tuple[str, str], str]:
    return {
        (rect.get("data-category"), rect.get("data-series")): rect.get("data-value")
        for rect in svg.iter(f"{SVG}rect")
        if rect.get("data-category") is not None
    }


def test_anonymous_goes_to_the_login(client):
    response = client.get(reverse("reports:dashboard"))

    assert response.status_code == 302
    assert response["Location"].startswith("/reports/login/")


def test_a_user_who_is_not_an_analyst_is_refused(client, dataset):
    client.force_login(UserFactory(username="someone"))

    response = client.get(reverse("reports:dashboard"))

    assert response.status_code == 403


def test_an_analyst_sees_only_the_granted_chats_numbers(client, dataset):
    client.force_login(_analyst(dataset.plain))

    response = client.get(reverse("reports:dashboard"), MARCH)

    assert response.status_code == 200
    content = response.content.decode()
    charts = _charts(content)
    assert set(charts) == {
        "dialogs-per-day",
        "handoff-rate",
        "first-response",
        "sla-by-operator",
        "ratings",
    }
    # Plain's four dialogs; Rome's (27 and 29 March) are not shown
    assert _bars(charts["dialogs-per-day"]) == {
        ("2026-03-02", "web"): "1",
        ("2026-03-03", "telegram"): "1",
        ("2026-03-03", "web"): "1",
        ("2026-03-04", "web"): "1",
    }
    assert 'data-figure="dialogs">4<' in content
    assert 'data-figure="with-request">3<' in content
    # the axis names the first and the last day, short
    labels = [text.text for text in charts["dialogs-per-day"].iter(f"{SVG}text")]
    assert {"03-01", "03-31"} <= set(labels)
    assert len(charts["dialogs-per-day"].findall(f"{SVG}desc")) == 1
    assert "Rome" not in content.split('<div class="dashboard-charts">')[1]


def test_the_handoff_rate_per_day(client, dataset):
    client.force_login(_analyst(dataset.plain))

    charts = _charts(client.get(reverse("reports:dashboard"), MARCH).content.decode())

    # 2 March 1 of 1, 3 March 2 of 2, 4 March 0 of 1 (no bar)
    assert _bars(charts["handoff-rate"]) == {
        ("2026-03-02", "rate"): "100",
        ("2026-03-03", "rate"): "100",
    }


def test_the_first_response_histogram_and_its_sla_line(client, dataset):
    client.force_login(_analyst(dataset.plain))

    charts = _charts(client.get(reverse("reports:dashboard"), MARCH).content.decode())

    # Plain's SLA 30 s: bins of 6 s up to 60 (0–6, 7–12, …); Anna 30 s, Bruno 120 s, two unanswered
    assert _bars(charts["first-response"]) == {
        ("25–30 s", "responses"): "1",  # 30 s is within the SLA: left of the line
        ("> 60 s", "responses"): "1",
        ("unanswered", "responses"): "2",
    }
    lines = [line for line in charts["first-response"].iter(f"{SVG}line") if line.get("data-value")]
    assert [line.get("data-value") for line in lines] == ["30"]
    # at 30 / 6 = 5 slots of 12 from the left edge
    slot = (720 - 48 - 12) / 12
    assert float(lines[0].get("x1")) == pytest.approx(48 + 5 * slot, abs=0.1)


def test_sla_met_per_operator_and_ratings(client, dataset):
    client.force_login(_analyst(dataset.plain))

    charts = _charts(client.get(reverse("reports:dashboard"), MARCH).content.decode())

    # Anna 2 of 4 (30 s, 90 s late, 40 s, D3 unanswered); Bruno 1 of 2; nobody 0 of 1
    assert _bars(charts["sla-by-operator"]) == {
        ("Anna", "within"): "50",
        ("Bruno", "within"): "50",
    }
    assert _bars(charts["ratings"]) == {
        ("2/2", "ratings"): "1",
        ("4/5", "ratings"): "1",
        ("7/10", "ratings"): "1",
    }


def test_one_chat_of_the_analyst(client, dataset):
    client.force_login(_analyst(dataset.plain, dataset.rome))

    response = client.get(reverse("reports:dashboard"), {**MARCH, "chat": dataset.rome.pk})

    assert response.status_code == 200
    bars = _bars(_charts(response.content.decode())["dialogs-per-day"])
    assert bars == {("2026-03-27", "web"): "1", ("2026-03-29", "telegram"): "1"}


@pytest.mark.parametrize(
    "chat", ["other", "0", "-1", "abc", "99999999999", "9" * 40, "%ED%A0%80", "%00", "1e3"]
)
def test_a_chat_the_analyst_may_not_read_is_not_found(client, dataset, chat):
    client.force_login(_analyst(dataset.plain))
    chat_value = str(dataset.rome.pk) if chat == "other" else chat

    # raw query: a lone surrogate's UTF-8 bytes, NUL
    response = client.get(f"{reverse('reports:dashboard')}?chat={chat_value}")

    assert response.status_code == 404


def test_staff_see_every_chat(client, dataset):
    client.force_login(UserFactory(username="admin-a", is_staff=True))

    response = client.get(reverse("reports:dashboard"), MARCH)

    assert 'data-figure="dialogs">6<' in response.content.decode()


def test_the_default_range_is_the_last_30_days(client, dataset):
    client.force_login(_analyst(dataset.plain))

    response = client.get(reverse("reports:dashboard"))

    # the dataset is in March 2026, long before "now": nothing in the default range
    assert response.status_code == 200
    categories = [
        text.text for text in _charts(response.content.decode())["handoff-rate"].iter(f"{SVG}text")
    ]
    assert 'data-figure="dialogs">0<' in response.content.decode()
    assert len(response.context["charts"][1]["chart"].table_rows) == 30
    assert categories


def test_bad_dates_are_reported_and_ignored(client, dataset):
    client.force_login(_analyst(dataset.plain))

    response = client.get(reverse("reports:dashboard"), {"date_from": "yesterday"})

    assert response.status_code == 200
    assert "Enter a date as YYYY-MM-DD." in response.content.decode()


def test_a_long_range_is_shown_by_month(client, dataset):
    client.force_login(_analyst(dataset.plain))

    response = client.get(
        reverse("reports:dashboard"), {"date_from": "2026-01-01", "date_to": "2026-12-31"}
    )

    bars = _bars(_charts(response.content.decode())["dialogs-per-day"])
    assert bars == {("2026-03", "web"): "3", ("2026-03", "telegram"): "1"}


def test_stored_names_are_escaped(client):
    dataset = build_dataset(anna_name='<script>alert("a")</script>', bruno_name="B&B <b>")
    dataset.plain.name = "<script>chat()</script>"
    dataset.plain.save()
    client.force_login(_analyst(dataset.plain))

    response = client.get(reverse("reports:dashboard"), MARCH)

    content = response.content.decode()
    assert "<script>" not in content
    assert "<b>" not in content
    assert "&lt;script&gt;alert(&quot;a&quot;)&lt;/script&gt;" in content
    # the SVGs are still well-formed XML and carry the names as text
    svg = _charts(content)["sla-by-operator"]
    titles = [title.text for title in svg.iter(f"{SVG}title")]
    assert any('<script>alert("a")</script>' in (title or "") for title in titles)


def test_the_page_has_no_inline_style_or_script(client, dataset):
    client.force_login(_analyst(dataset.plain))

    content = client.get(reverse("reports:dashboard"), MARCH).content.decode()

    assert "style=" not in content
    # scripts only from static files
    assert re.findall(r"<script[^>]*>", content) == [
        '<script src="/static/reports/filters.js" defer>',
        '<script src="/static/reports/dashboard.js" defer>',
    ]
    assert "<style" not in content


def test_only_get(client, dataset):
    client.force_login(_analyst(dataset.plain))

    assert client.post(reverse("reports:dashboard")).status_code == 405


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [("0001-01-01", "9999-12-31"), ("9999-12-31", ""), ("", "9999-12-31"), ("1900-01-01", "")],
)
def test_absurd_ranges_are_cut_to_something_drawable(client, dataset, date_from, date_to):
    client.force_login(_analyst(dataset.plain))

    response = client.get(
        reverse("reports:dashboard"), {"date_from": date_from, "date_to": date_to}
    )

    assert response.status_code == 200
    rows = response.context["charts"][0]["chart"].table_rows
    assert 1 <= len(rows) <= 62  # months
    assert response.context["errors"]
