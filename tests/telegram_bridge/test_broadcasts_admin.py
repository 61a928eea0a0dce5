"""The broadcasts admin: compose with validation (bad input changes nothing), see the
recipient count, send, watch progress (JSON), cancel, the read-only results list and
the XLSX download."""

from __future__ import annotations

import io
import re
import secrets

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from telegram_bridge.models import Broadcast, BroadcastRecipient, BroadcastStatus, RecipientStatus
from tests.telegram_bridge.broadcast_helpers import blocked, broadcast_make, drive, telegram_client

pytestmark = pytest.mark.django_db(transaction=True)

ANN, BOB, CAROL = 911, 912, 913
ADD = reverse("admin:telegram_bridge_broadcast_add")


def change_url(broadcast: Broadcast) -> str:
    return reverse("admin:telegram_bridge_broadcast_change", args=[broadcast.pk])


def form(bot, **fields) -> dict:
    data = {
        "bot": bot.pk,
        "title": "",
        "text": "Hello all",
        "photo": "",
        "buttons": "",
        "marker": "",
        "active_after_0": "",
        "active_after_1": "",
        "active_before_0": "",
        "active_before_1": "",
        "customer_bound": "any",
        # the ADD page's one-time token (a change page ignores it)
        "submission_token": secrets.token_urlsafe(24),
    }
    data.update(fields)
    return data


@pytest.fixture
def clients(telegram_world):
    for user in (ANN, BOB, CAROL):
        telegram_client(telegram_world.bot, user)
    blocked(telegram_world.bot, CAROL)
    return telegram_world


def test_the_add_page_renders(admin_client, telegram_world):
    response = admin_client.get(ADD)
    assert response.status_code == 200
    assert b"Save and send" in response.content
    assert b"Save and count recipients" in response.content


def test_saving_a_draft_shows_the_recipient_count(admin_client, clients, admin_user):
    # when
    response = admin_client.post(
        ADD,
        form(clients.bot, buttons="Shop | https://example.com/shop\nNews | http://example.com/n")
        | {"_preview": "1"},
        follow=True,
    )
    # then
    broadcast = Broadcast.objects.get()
    assert (broadcast.status, broadcast.created_by) == (BroadcastStatus.DRAFT, admin_user)
    assert broadcast.buttons == [
        [{"text": "Shop", "url": "https://example.com/shop"}],
        [{"text": "News", "url": "http://example.com/n"}],
    ]
    page = response.content.decode()
    assert "2 clients would receive it now (1 left out: they blocked the bot)." in page
    assert "2 clients would receive it now." in page  # the panel on the change page
    assert "Shop | https://example.com/shop" in page  # the buttons as they were typed


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"text": "   "}, "A broadcast needs text."),
        ({"buttons": "Shop | javascript:alert(1)"}, "is not an http:// or https:// address."),
        ({"buttons": "Shop https://example.com"}, "Line 1: write a button as"),
        ({"photo": "not a photo"}, "Give an https:// URL of the photo or a Telegram file_id."),
        ({"photo": "https://"}, "Give an https:// URL of the photo or a Telegram file_id."),
        (
            {"photo": "https://not a host/p.jpg"},
            "Give an https:// URL of the photo or a Telegram file_id.",
        ),
        ({"photo": "https://example.com/p.jpg", "text": "x" * 1025}, "At most 1024 characters"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_saved(
    admin_client, clients, fields, error
):
    response = admin_client.post(ADD, form(clients.bot, **fields) | {"_send": "1"})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Broadcast.objects.exists()
    assert not BroadcastRecipient.objects.exists()


def test_bad_input_on_a_draft_leaves_it_as_it_was(admin_client, clients):
    broadcast = broadcast_make(clients.bot, text="Before")
    response = admin_client.post(
        change_url(broadcast), form(clients.bot, text="After", buttons="x | ftp://example.com")
    )
    assert response.status_code == 200
    broadcast.refresh_from_db()
    assert (broadcast.text, broadcast.buttons, broadcast.status) == ("Before", [], "draft")


def test_send_starts_it_and_the_page_shows_progress(admin_client, clients):
    broadcast = broadcast_make(clients.bot)
    # when
    response = admin_client.post(
        change_url(broadcast), form(clients.bot, text="Edited") | {"_send": "1"}, follow=True
    )
    # then
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.text, broadcast.recipients_total) == (
        BroadcastStatus.SENDING,
        "Edited",
        2,
    )
    assert "Sending to 2 clients." in response.content.decode()
    assert b'id="broadcast-progress"' in response.content
    assert b"broadcast_progress.js" in response.content
    progress_url = reverse("admin:telegram_bridge_broadcast_progress", args=[broadcast.pk])
    assert admin_client.get(progress_url).json() == {
        "status": "sending",
        "pending": 2,
        "queued": 0,
        "sending": 0,
        "sent": 0,
        "failed": 0,
        "blocked": 0,
        "skipped": 0,
        "total": 2,
        "done": 0,
    }
    # once sent, the progress says so and the results are there
    drive(clients.bot, broadcast)
    assert admin_client.get(progress_url).json()["sent"] == 2
    page = admin_client.get(change_url(broadcast)).content.decode()
    assert "broadcast_progress.js" not in page  # nothing left to poll
    listing = admin_client.get(reverse("admin:telegram_bridge_broadcast_changelist"))
    assert listing.status_code == 200
    assert '<td class="field-sent_count">2</td>' in listing.content.decode()
    results = admin_client.get(
        reverse("admin:telegram_bridge_broadcastrecipient_changelist")
        + f"?broadcast__id__exact={broadcast.pk}"
    )
    assert results.status_code == 200
    assert f"u{ANN}" in results.content.decode()
    download = admin_client.get(
        reverse("admin:telegram_bridge_broadcast_results", args=[broadcast.pk])
    )
    assert download["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = list(load_workbook(io.BytesIO(download.content)).active.iter_rows(values_only=True))
    assert sorted(row[1] for row in rows[1:]) == [ANN, BOB]


def test_a_started_broadcast_cannot_be_edited(admin_client, clients):
    broadcast = broadcast_make(clients.bot, text="Sent as is")
    admin_client.post(
        change_url(broadcast),
        form(clients.bot, buttons="Shop | https://example.com/<shop>") | {"_send": "1"},
    )
    # its page shows what was sent, read-only
    page = admin_client.get(change_url(broadcast)).content.decode()
    assert "Shop | https://example.com/&lt;shop&gt;" in page
    assert 'name="text"' not in page
    # when someone posts a change to it
    admin_client.post(change_url(broadcast), form(clients.bot, text="Changed"))
    # then
    broadcast.refresh_from_db()
    assert (broadcast.text, broadcast.status) == ("Hello all", BroadcastStatus.SENDING)


def test_an_empty_segment_is_refused_on_send(admin_client, clients):
    response = admin_client.post(
        ADD, form(clients.bot, marker="nobody") | {"_send": "1"}, follow=True
    )
    assert "No client is in this segment: nothing to send." in response.content.decode()
    assert Broadcast.objects.get().status == BroadcastStatus.DRAFT
    assert not BroadcastRecipient.objects.exists()


def test_cancel_from_the_page(admin_client, clients):
    broadcast = broadcast_make(clients.bot)
    admin_client.post(change_url(broadcast), form(clients.bot) | {"_send": "1"})
    response = admin_client.post(change_url(broadcast), {"_cancel": "1"}, follow=True)
    assert "Cancelled: 2 recipients will not get it." in response.content.decode()
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.CANCELLED
    assert set(BroadcastRecipient.objects.values_list("status", flat=True)) == {
        RecipientStatus.SKIPPED
    }


def test_progress_and_results_need_a_staff_login(client, clients):
    broadcast = broadcast_make(clients.bot)
    for name in ("progress", "results"):
        url = reverse(f"admin:telegram_bridge_broadcast_{name}", args=[broadcast.pk])
        response = client.get(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_a_new_broadcast_can_be_saved_and_sent_at_once(admin_client, clients):
    response = admin_client.post(ADD, form(clients.bot, marker="") | {"_send": "1"}, follow=True)
    broadcast = Broadcast.objects.get()
    assert (broadcast.status, broadcast.recipients_total) == (BroadcastStatus.SENDING, 2)
    assert "Sending to 2 clients." in response.content.decode()
    assert response.redirect_chain[-1][0] == change_url(broadcast)


def test_the_add_page_carries_a_new_one_time_token_each_time(admin_client, telegram_world):
    tokens = [
        re.search(
            rb'<input type="hidden" name="submission_token" value="([^"]+)"',
            admin_client.get(ADD).content,
        ).group(1)
        for _page in range(2)
    ]
    assert tokens[0] != tokens[1]


def test_save_and_send_submitted_twice_makes_one_broadcast_sent_once(admin_client, clients):
    # a double click on "Save and send": the same form, token included, posted twice
    data = form(clients.bot) | {"_send": "1"}
    first = admin_client.post(ADD, data)
    second = admin_client.post(ADD, data, follow=True)

    broadcast = Broadcast.objects.get()
    assert first["Location"] == change_url(broadcast)
    assert second.redirect_chain[-1][0] == change_url(broadcast)
    assert broadcast.status == BroadcastStatus.SENDING
    assert sorted(
        BroadcastRecipient.objects.filter(broadcast=broadcast).values_list(
            "telegram_chat_id", flat=True
        )
    ) == [ANN, BOB]
    drive(clients.bot, broadcast)
    assert sorted(call.params["chat_id"] for call in clients.api.succeeded("sendMessage")) == [
        ANN,
        BOB,
    ]


def test_save_submitted_twice_makes_one_draft(admin_client, clients):
    data = form(clients.bot, title="Spring")
    admin_client.post(ADD, data)
    admin_client.post(ADD, data)
    assert list(Broadcast.objects.values_list("title", "status")) == [
        ("Spring", BroadcastStatus.DRAFT)
    ]


@pytest.mark.parametrize("token", ["", "short", "has spaces in it, and more than 16"])
def test_a_missing_or_bad_token_is_refused_and_nothing_saved(admin_client, clients, token):
    response = admin_client.post(ADD, form(clients.bot, submission_token=token) | {"_send": "1"})
    assert response.status_code == 200
    assert "This form has expired: reload the page and submit it again." in (
        response.content.decode()
    )
    assert not Broadcast.objects.exists()
