"""reports.charts: the SVG is well-formed, escaped, and its bars measure the values."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from reports.access import ANALYST_GROUP
from reports.charts import HEIGHT, ReferenceLine, Series, bar_svg
from tests.distributor.factories import UserFactory

SVG = "{http://www.w3.org/2000/svg}"
PLOT_HEIGHT = HEIGHT - 16 - 56


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # noqa: S314 - our own markup, in a test


def test_stacked_bars_are_as_tall_as_their_values():
    svg = _parse(
        bar_svg(
            key="k",
            title="T",
            description="D",
            categories=["a", "b"],
            series=[
                Series(key="web", label="Web", colour="#111111", values=[3, 0]),
                Series(key="tg", label="Telegram", colour="#222222", values=[1, 2]),
            ],
        )
    )

    rects = [rect for rect in svg.iter(f"{SVG}rect") if rect.get("data-category")]
    heights = {
        (r.get("data-category"), r.get("data-series")): float(r.get("height")) for r in rects
    }
    # the tallest stack (a: 3 + 1) fills the plot; a zero draws nothing
    assert heights == {
        ("a", "web"): pytest.approx(PLOT_HEIGHT * 3 / 4, abs=0.1),
        ("a", "tg"): pytest.approx(PLOT_HEIGHT * 1 / 4, abs=0.1),
        ("b", "tg"): pytest.approx(PLOT_HEIGHT * 2 / 4, abs=0.1),
    }
    web = next(r for r in rects if r.get("data-series") == "web")
    telegram_a = next(
        r for r in rects if r.get("data-series") == "tg" and r.get("data-category") == "a"
    )
    # stacked: Telegram's part sits on top of Web's
    assert float(telegram_a.get("y")) + float(telegram_a.get("height")) == pytest.approx(
        float(web.get("y")), abs=0.2
    )
    assert svg.find(f"{SVG}title").text == "T"
    assert svg.find(f"{SVG}desc").text == "D"
    # two series: a legend
    legend = [text.text for text in svg.iter(f"{SVG}text") if text.get("class") == "legend-label"]
    assert legend == ["Web", "Telegram"]


def test_every_text_is_escaped():
    evil = '<script>alert("x")</script>&'
    markup = bar_svg(
        key="k",
        title=evil,
        description=evil,
        categories=[evil],
        series=[Series(key=evil, label=evil, colour="#000", values=[1])],
        lines=[ReferenceLine(position=0.5, label=evil, value="1")],
    )

    assert "<script>" not in markup
    svg = _parse(markup)
    assert svg.find(f"{SVG}title").text == evil
    rect = next(r for r in svg.iter(f"{SVG}rect") if r.get("data-category"))
    assert rect.get("data-category") == evil
    assert rect.find(f"{SVG}title").text.startswith(evil)


def test_no_categories_draws_empty_axes():
    svg = _parse(bar_svg(key="k", title="T", description="D", categories=[], series=[]))

    assert [r for r in svg.iter(f"{SVG}rect") if r.get("data-category")] == []
    assert len(list(svg.iter(f"{SVG}line"))) == 2


def test_a_value_above_the_maximum_is_clipped_to_the_plot():
    svg = _parse(
        bar_svg(
            key="k",
            title="T",
            description="D",
            categories=["a"],
            series=[Series(key="s", label="S", colour="#000", values=[250])],
            maximum=100,
        )
    )

    rect = next(r for r in svg.iter(f"{SVG}rect") if r.get("data-category"))
    assert float(rect.get("height")) == pytest.approx(PLOT_HEIGHT, abs=0.1)
    assert rect.get("data-value") == "250"


@pytest.mark.django_db
def test_an_analyst_without_chats_sees_empty_charts(client):
    user = UserFactory(username="lonely")
    user.groups.add(Group.objects.get(name=ANALYST_GROUP))
    client.force_login(user)

    response = client.get(reverse("reports:dashboard"))

    assert response.status_code == 200
    assert 'data-figure="dialogs">0<' in response.content.decode()
    assert "data-category" not in response.content.decode()
