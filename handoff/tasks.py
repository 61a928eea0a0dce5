from celery import shared_task

from distributor.services.presence import REQUESTS_DRAIN_TASK
from handoff.services import deadlines_sweep, requests_drain
from handoff.services.trigger import CHECK_TRIGGER_TASK, trigger_check


@shared_task(name="handoff.sweep_deadlines", ignore_result=True)
def sweep_deadlines() -> int:
    """Every few seconds (beat): act on due accept, queue, reply and idle deadlines."""
    return deadlines_sweep()


@shared_task(name=CHECK_TRIGGER_TASK, ignore_result=True)
def check_trigger(dialog_id: int) -> None:
    """Ask the classifier whether to offer this visitor a human; reveal the headset."""
    trigger_check(dialog_id=dialog_id)


@shared_task(name=REQUESTS_DRAIN_TASK, ignore_result=True)
def drain_requests(chat_ids: list[int] | None = None, operator_id: int | None = None) -> int:
    """A manager came online or freed a slot: offer the waiting requests of their chats
    (or of `chat_ids`). Idempotent; the sweep drains too, as a backstop."""
    if chat_ids is None and operator_id is None:
        return 0
    return requests_drain(chat_ids=chat_ids, operator_id=operator_id)
