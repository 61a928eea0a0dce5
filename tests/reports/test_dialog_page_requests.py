"""A dialog's page shows the latest REQUESTS_SHOWN requests (a client can open and
close requests over and over) and says how many earlier ones it leaves out; request
events show their statuses in words."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone, translation

from handoff.enums import RequestReason, RequestStatus
from handoff.models import Request, RequestEvent
from reports import selectors_viewer
from tests.chats.factories import ChatFactory, DialogFactory
from tests.reports.test_access import make_analyst

pytestmark = pytest.mark.django_db


def test_only_the_latest_requests_are_shown_and_the_rest_counted(client, monkeypatch):
    monkeypatch.setattr(selectors_viewer, "REQUESTS_SHOWN", 5)
    chat = ChatFactory(name="Shop")
    client.force_login(make_analyst("ann", chats=[chat]))
    dialog = DialogFactory(client__chat=chat)
    start = timezone.now() - datetime.timedelta(hours=5)
    requests = Request.objects.bulk_create(
        Request(
            dialog=dialog,
            chat=chat,
            status=RequestStatus.CLOSED,
            reason=RequestReason.HEADSET,
            created_at=start + datetime.timedelta(minutes=n),
            closed_at=start + datetime.timedelta(minutes=n, seconds=30),
        )
        for n in range(8)
    )
    RequestEvent.objects.create(
        request=requests[-1],
        from_status=RequestStatus.PENDING,
        to_status=RequestStatus.CLOSED,
        created_at=start,
    )

    page = client.get(f"/reports/dialogs/{dialog.session_id}/").content.decode()

    opened = re.findall(r'class="request"', page)
    assert len(opened) == 5
    assert "3 earlier requests are not shown" in page
    # the latest shown, oldest first: minutes 3..7
    shown = [(start + datetime.timedelta(minutes=n)).strftime("%H:%M:%S") for n in range(3, 8)]
    positions = [page.index(stamp) for stamp in shown]
    assert positions == sorted(positions)
    assert (start + datetime.timedelta(minutes=2)).strftime("%H:%M:%S") not in page
    assert "pending → closed" in page
    # in words of the reader's language, not the stored codes
    russian = client.get(
        f"/reports/dialogs/{dialog.session_id}/", HTTP_ACCEPT_LANGUAGE="ru"
    ).content.decode()
    with translation.override("ru"):
        words = f"{RequestStatus.PENDING.label} → {RequestStatus.CLOSED.label}"
    assert words != "pending → closed"
    assert words in russian
