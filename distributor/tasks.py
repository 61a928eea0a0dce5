"""API bots' webhook deliveries: sent on a queue of their own ("webhooks", see
config/celery.py), so a slow bot never delays the handoff deadline sweep or Telegram."""

from celery import shared_task

from distributor.services.api_bots import api_bot_assignments_release_ended
from distributor.services.webhooks import webhook_deliveries_send_due, webhook_delivery_send

WEBHOOK_DELIVER_TASK = "distributor.webhook_deliver"
WEBHOOKS_SWEEP_TASK = "distributor.webhooks_sweep"


@shared_task(name=WEBHOOK_DELIVER_TASK, ignore_result=True)
def webhook_deliver(delivery_id: int) -> None:
    """One attempt at one delivery (after the commit that recorded it, or when due)."""
    webhook_delivery_send(delivery_id=delivery_id)


@shared_task(name=WEBHOOKS_SWEEP_TASK, ignore_result=True)
def webhooks_sweep() -> int:
    """Every few seconds (beat): release the dialogs API bots held that ended without
    them (telling the bot), and hand every due delivery to a worker: retries whose time
    came, and deliveries a restarted worker never sent."""
    api_bot_assignments_release_ended()
    return webhook_deliveries_send_due(send=webhook_deliver.delay)
