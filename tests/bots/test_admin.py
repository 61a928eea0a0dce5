"""Admin pages of API bots and webhook deliveries."""

from __future__ import annotations

import pytest

from distributor.enums import DeliveryStatus
from distributor.models import ApiBot, WebhookDelivery
from distributor.services.webhooks import webhook_event_record

pytestmark = pytest.mark.django_db


def test_the_bot_list_shows_load_capacity_and_dead_letters(routed_bot, admin_client):
    # given a dead delivery of the bot
    delivery = webhook_event_record(
        bot=routed_bot.bot, event="message.created", data={"dialog": {"session_id": "s"}}
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.DEAD)
    # when
    page = admin_client.get("/admin/distributor/apibot/")
    # then
    assert page.status_code == 200
    content = page.content.decode()
    assert "Helper bot" in content
    assert f"?bot__id__exact={routed_bot.bot.pk}&amp;dead=yes" in content
    change = admin_client.get(f"/admin/distributor/apibot/{routed_bot.bot.pk}/change/")
    assert change.status_code == 200
    # bots register through the API: no add page
    assert admin_client.get("/admin/distributor/apibot/add/").status_code == 403


def test_the_admin_changes_a_bots_capacity_and_a_private_webhook_is_refused(
    routed_bot, admin_client, settings
):
    url = f"/admin/distributor/apibot/{routed_bot.bot.pk}/change/"
    form = {
        "name": "Helper bot",
        "webhook_url": "https://bot.example.com/hook",
        "capacity": "9",
        "is_active": "on",
    }
    assert admin_client.post(url, form).status_code == 302
    bot = ApiBot.objects.get(pk=routed_bot.bot.pk)
    assert (bot.capacity, bot.webhook_url) == (9, "https://bot.example.com/hook")
    # a webhook on a private address is refused when those are not allowed
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = False
    refused = admin_client.post(
        url, {**form, "webhook_url": "http://10.0.0.5/hook", "capacity": "3"}
    )
    assert refused.status_code == 200
    assert "public address" in refused.content.decode()
    bot.refresh_from_db()
    assert (bot.capacity, bot.webhook_url) == (9, "https://bot.example.com/hook")


def test_a_delivery_page_shows_its_payload_read_only(routed_bot, admin_client):
    delivery = webhook_event_record(
        bot=routed_bot.bot, event="message.created", data={"dialog": {"session_id": "s-42"}}
    )
    page = admin_client.get(f"/admin/distributor/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "s-42" in content
    assert 'name="payload"' not in content
    assert 'name="_save"' not in content
