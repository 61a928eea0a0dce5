"""Webhook deliveries: signed, sent to a real HTTP server on localhost, retried with
exponential backoff (time advanced by passing `now`), dead after a day, replayed from
Admin, in order per dialog."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from distributor.enums import DeliveryStatus
from distributor.models import WebhookDelivery
from distributor.services.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookUrlRefused,
    retry_delay,
    webhook_body,
    webhook_deliveries_send_due,
    webhook_delivery_send,
    webhook_event_record,
    webhook_signature,
    webhook_url_check,
)
from docs.examples.api_bot import verify_signature

pytestmark = pytest.mark.django_db


def record(bot, event="message.created", session_id="s1", **data) -> WebhookDelivery:
    return webhook_event_record(
        bot=bot, event=event, data={"dialog": {"session_id": session_id}, **data}
    )


def test_the_documented_worked_example_signs_to_the_documented_hex():
    # the values of docs/api.md's worked example
    secret = "3f9a1c5e7b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a"
    body = b'{"event":"message.created","event_id":"7d2f6c1e-3b0a-4c5d-9e8f-1a2b3c4d5e6f"}'
    assert webhook_signature(secret=secret, timestamp=1764590400, body=body) == (
        "b5931bfc7b37c1d4bdcd8cc3a2813bf263aabe62b7409cf1dfc004ae88127200"
    )


def test_a_delivery_reaches_the_webhook_signed_and_is_marked_delivered(
    routed_bot, webhook_receiver
):
    # given
    delivery = record(routed_bot.bot, text="hello")
    now = timezone.now()
    # when
    sent = webhook_delivery_send(delivery_id=delivery.pk, now=now)
    # then: the receiver got the exact payload, signed with the bot's secret
    assert sent.status == DeliveryStatus.DELIVERED
    [received] = webhook_receiver.received
    assert received.headers[EVENT_HEADER] == "message.created"
    assert received.headers[DELIVERY_HEADER] == str(delivery.event_id)
    # (the body is the stored payload as read back: PostgreSQL's jsonb orders its keys)
    assert received.body == webhook_body(WebhookDelivery.objects.get(pk=delivery.pk).payload)
    assert received.payload == delivery.payload
    assert received.payload["text"] == "hello"
    header = received.headers[SIGNATURE_HEADER]
    timestamp = int(now.timestamp())
    assert header == (
        f"t={timestamp},v1="
        + webhook_signature(secret=routed_bot.secret, timestamp=timestamp, body=received.body)
    )
    # and the example bot's verify function accepts it (and refuses a changed body)
    assert verify_signature(routed_bot.secret, header, received.body, now=timestamp)
    assert not verify_signature(routed_bot.secret, header, received.body + b" ", now=timestamp)
    assert not verify_signature("another secret", header, received.body, now=timestamp)
    stored = WebhookDelivery.objects.get(pk=delivery.pk)
    assert (stored.status, stored.attempts, stored.delivered_at) == (
        DeliveryStatus.DELIVERED,
        1,
        now,
    )


def test_failures_are_retried_with_doubling_backoff_then_delivered(routed_bot, webhook_receiver):
    # given a webhook that fails three times
    webhook_receiver.fail_next(3, status=503)
    delivery = record(routed_bot.bot)
    now = delivery.created_at
    # when: each attempt is made when it is due
    waits = []
    for _attempt in range(3):
        failed = webhook_delivery_send(delivery_id=delivery.pk, now=now)
        assert failed.status == DeliveryStatus.PENDING
        assert failed.last_error == "HTTP 503"
        # not due before its time: nothing is sent
        assert (
            webhook_delivery_send(delivery_id=delivery.pk, now=now + timedelta(seconds=1)) is None
        )
        waits.append(failed.next_attempt_at - now)
        now = failed.next_attempt_at
    delivered = webhook_delivery_send(delivery_id=delivery.pk, now=now)
    # then
    assert waits == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=40)]
    assert delivered.status == DeliveryStatus.DELIVERED
    assert delivered.attempts == 4
    assert len(webhook_receiver.received) == 4
    # every attempt carried the same event id
    assert {item.headers[DELIVERY_HEADER] for item in webhook_receiver.received} == {
        str(delivery.event_id)
    }


def test_the_backoff_is_capped_at_an_hour():
    assert retry_delay(1) == timedelta(seconds=10)
    assert retry_delay(9) == timedelta(seconds=2560)
    assert retry_delay(10) == timedelta(hours=1)
    assert retry_delay(40) == timedelta(hours=1)


def test_a_delivery_failing_for_a_day_is_dead_and_stays_dead(routed_bot, webhook_receiver):
    # given a webhook that always fails
    webhook_receiver.fail_next(1000)
    delivery = record(routed_bot.bot)
    now = delivery.created_at
    # when: attempted whenever due
    attempts = 0
    while True:
        sent = webhook_delivery_send(delivery_id=delivery.pk, now=now)
        attempts += 1
        if sent.status != DeliveryStatus.PENDING:
            break
        now = sent.next_attempt_at
    # then: dead, after the backoff reached an hour, never past a day
    stored = WebhookDelivery.objects.get(pk=delivery.pk)
    assert stored.status == DeliveryStatus.DEAD
    assert stored.next_attempt_at is None
    assert stored.attempts == attempts == len(webhook_receiver.received)
    assert now <= delivery.created_at + timedelta(hours=24)
    assert now + timedelta(hours=1) > delivery.created_at + timedelta(hours=24)
    # a dead delivery is not sent again by the sweep
    assert webhook_deliveries_send_due(now=now + timedelta(days=2)) == 0
    assert len(webhook_receiver.received) == attempts


def test_an_unreachable_webhook_is_a_failure_with_the_error_recorded(routed_bot, webhook_receiver):
    # given a port nothing listens on (the receiver's, after it is shut)
    url = webhook_receiver.url
    webhook_receiver.server.shutdown()
    webhook_receiver.server.server_close()
    type(routed_bot.bot).objects.filter(pk=routed_bot.bot.pk).update(webhook_url=url)
    delivery = record(routed_bot.bot)
    # when
    sent = webhook_delivery_send(delivery_id=delivery.pk, now=delivery.created_at)
    # then
    assert sent.status == DeliveryStatus.PENDING
    assert "ConnectError" in sent.last_error
    assert sent.next_attempt_at == delivery.created_at + timedelta(seconds=10)


def test_a_later_event_of_a_dialog_waits_until_the_earlier_one_is_delivered(
    routed_bot, webhook_receiver
):
    # given two events of one dialog and one of another; the first fails once
    webhook_receiver.fail_next(1)
    first = record(routed_bot.bot, session_id="a", text="one")
    second = record(routed_bot.bot, session_id="a", text="two")
    other = record(routed_bot.bot, session_id="b", text="other")
    now = other.created_at
    # when the sweep runs now
    webhook_deliveries_send_due(now=now)
    # then: the first failed, the second waits behind it, the other dialog's went
    assert [item.payload["text"] for item in webhook_receiver.received] == ["one", "other"]
    assert WebhookDelivery.objects.get(pk=second.pk).status == DeliveryStatus.PENDING
    assert WebhookDelivery.objects.get(pk=other.pk).status == DeliveryStatus.DELIVERED
    # when the first's retry is due: it goes, and then the second
    later = now + timedelta(seconds=10)
    webhook_deliveries_send_due(now=later)
    webhook_deliveries_send_due(now=later + timedelta(seconds=2))
    texts = [item.payload["text"] for item in webhook_receiver.received]
    assert texts == ["one", "other", "one", "two"]
    assert set(
        WebhookDelivery.objects.filter(pk__in=[first.pk, second.pk]).values_list(
            "status", flat=True
        )
    ) == {DeliveryStatus.DELIVERED}


def test_the_admin_replays_a_dead_delivery(routed_bot, webhook_receiver, admin_client):
    # given a dead delivery
    delivery = record(routed_bot.bot, text="lost")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DEAD, attempts=17, next_attempt_at=None, last_error="HTTP 500"
    )
    # the dead-letter list shows it
    page = admin_client.get("/admin/distributor/webhookdelivery/?dead=yes")
    assert page.status_code == 200
    assert "HTTP 500" in page.content.decode()
    # when the admin replays it
    response = admin_client.post(
        "/admin/distributor/webhookdelivery/",
        {"action": "replay", "_selected_action": [delivery.pk]},
    )
    # then it was sent at once and is delivered, counted afresh
    assert response.status_code == 302
    stored = WebhookDelivery.objects.get(pk=delivery.pk)
    assert (stored.status, stored.attempts, stored.last_error) == (
        DeliveryStatus.DELIVERED,
        1,
        "",
    )
    assert [item.payload["text"] for item in webhook_receiver.received] == ["lost"]


def test_the_delivery_page_is_read_only(routed_bot, admin_client):
    delivery = record(routed_bot.bot, text="x")
    response = admin_client.post(
        f"/admin/distributor/webhookdelivery/{delivery.pk}/change/",
        {"event": "changed", "status": "delivered"},
    )
    assert response.status_code == 403
    stored = WebhookDelivery.objects.get(pk=delivery.pk)
    assert (stored.event, stored.status) == ("message.created", DeliveryStatus.PENDING)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "javascript:alert(1)",
        "http://",
        "https://user:pw@example.com/hook",
        "not a url",
        "http://exa mple.com:99999/",
    ],
)
def test_a_webhook_that_is_not_http_is_refused(url):
    with pytest.raises(WebhookUrlRefused):
        webhook_url_check(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
    ],
)
def test_private_addresses_are_refused_unless_allowed(url, settings):
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(WebhookUrlRefused):
        webhook_url_check(url)
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = True
    assert webhook_url_check(url) == url


def test_a_delivery_to_a_private_address_is_not_made_when_they_are_refused(
    routed_bot, webhook_receiver, settings
):
    # given the bot's webhook is on localhost and private addresses are refused now
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = False
    delivery = record(routed_bot.bot)
    # when
    sent = webhook_delivery_send(delivery_id=delivery.pk, now=delivery.created_at)
    # then nothing reached the receiver, the refusal is recorded and retried later
    assert webhook_receiver.received == []
    assert sent.status == DeliveryStatus.PENDING
    assert sent.last_error.startswith("refused:")


def test_deliveries_and_their_sweep_run_on_a_queue_of_their_own_and_beat_sends_due_ones():
    from django.conf import settings as django_settings

    from config.celery import WEBHOOKS_QUEUE
    from config.celery import app as celery_app
    from distributor import tasks

    routes = celery_app.conf.task_routes
    assert routes[tasks.WEBHOOK_DELIVER_TASK] == {"queue": WEBHOOKS_QUEUE}
    assert routes[tasks.WEBHOOKS_SWEEP_TASK] == {"queue": WEBHOOKS_QUEUE}
    # the handoff sweep stays on Celery's default queue
    assert "handoff.sweep_deadlines" not in routes
    [entry] = [
        entry
        for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == tasks.WEBHOOKS_SWEEP_TASK
    ]
    assert entry["schedule"] <= 60
    assert tasks.WEBHOOKS_SWEEP_TASK in celery_app.tasks


def test_the_sweep_sends_a_delivery_no_worker_sent(routed_bot, webhook_receiver):
    # given a delivery whose after-commit send never ran (no worker then)
    delivery = record(routed_bot.bot, text="missed")
    # when the beat's sweep runs later
    sent = webhook_deliveries_send_due(now=delivery.created_at + timedelta(minutes=5))
    # then
    assert sent == 1
    assert [item.payload["text"] for item in webhook_receiver.received] == ["missed"]
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DELIVERED
