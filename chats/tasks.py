from celery import shared_task
from django.db import OperationalError

from chats.services import dialogs_close_idle
from chats.services.billing import PricePeriod, dialog_costs_recompute_for_periods
from chats.services.uploads import uploads_delete_unattached


@shared_task(name="chats.close_idle_dialogs", ignore_result=True)
def close_idle_dialogs() -> int:
    """Every minute (beat): close the dialogs the bot has that nobody wrote in for
    BATON_DIALOG_IDLE_CLOSE_HOURS."""
    return dialogs_close_idle()


@shared_task(
    name="chats.dialog_costs_recompute_for_prices",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def dialog_costs_recompute_for_prices(periods: list[dict]) -> int:
    """After a message price was created, changed or deleted (scheduled on commit):
    recompute the cost of the dialogs with messages in the price's old and new
    periods. Idempotent; a deadlock or lock timeout retries it."""
    return dialog_costs_recompute_for_periods(PricePeriod.from_json(period) for period in periods)


@shared_task(name="chats.delete_unattached_uploads", ignore_result=True)
def delete_unattached_uploads() -> int:
    """Hourly (beat): delete the uploads never sent in a message."""
    return uploads_delete_unattached()
