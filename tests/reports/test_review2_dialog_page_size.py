"""A dialog's page stays bounded however many page visits and marker hits the
visitor's widget and the bot recorded: the latest ones are shown, and how many
earlier ones are not."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone

from chats.models import MarkerHit, PageVisit
from reports import selectors_viewer
from tests.chats.factories import ChatFactory, DialogFactory
from tests.reports.test_access import make_analyst

pytestmark = pytest.mark.django_db

EXTRA = 7
VISITS_SHOWN = getattr(selectors_viewer, "PAGE_VISITS_SHOWN", 200)
MARKERS_SHOWN = getattr(selectors_viewer, "MARKERS_SHOWN", 200)


@pytest.fixture
def dialog_page(client):
    chat = ChatFactory(name="Shop")
    client.force_login(make_analyst("ann", chats=[chat]))
    dialog = DialogFactory(client__chat=chat)
    start = timezone.now() - datetime.timedelta(hours=5)
    visits = VISITS_SHOWN + EXTRA
    PageVisit.objects.bulk_create(
        PageVisit(
            dialog=dialog,
            url=f"https://shop.example/p{n}",
            visited_at=start + datetime.timedelta(seconds=n),
        )
        for n in range(visits)
    )
    MarkerHit.objects.bulk_create(
        MarkerHit(dialog=dialog, marker=f"m{n}", created_at=start + datetime.timedelta(seconds=n))
        for n in range(MARKERS_SHOWN + EXTRA)
    )
    return client.get(f"/reports/dialogs/{dialog.session_id}/").content.decode()


def test_only_the_latest_page_visits_are_shown_and_the_rest_counted(dialog_page):
    shown = re.findall(r'<span class="url">https://shop.example/p(\d+)</span>', dialog_page)

    assert len(shown) == VISITS_SHOWN
    # the latest, oldest first
    assert shown[0] == str(EXTRA)
    assert shown[-1] == str(VISITS_SHOWN + EXTRA - 1)
    assert f"{EXTRA} earlier visits are not shown" in dialog_page


def test_only_the_latest_marker_hits_are_shown_and_the_rest_counted(dialog_page):
    shown = re.findall(r'<span class="tag"[^>]*>m(\d+)</span>', dialog_page)

    assert len(shown) == MARKERS_SHOWN
    assert shown[0] == str(EXTRA)
    assert f"and {EXTRA} earlier marker hits" in dialog_page


def test_a_dialog_under_the_limits_shows_everything_and_no_note(client):
    chat = ChatFactory(name="Shop")
    client.force_login(make_analyst("ann", chats=[chat]))
    dialog = DialogFactory(client__chat=chat)
    PageVisit.objects.create(dialog=dialog, url="https://shop.example/only")
    MarkerHit.objects.create(dialog=dialog, marker="only")

    page = client.get(f"/reports/dialogs/{dialog.session_id}/").content.decode()

    assert "https://shop.example/only" in page and ">only</span>" in page
    assert 'id="visits-hidden"' not in page and 'id="markers-hidden"' not in page
