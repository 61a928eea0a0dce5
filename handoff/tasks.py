from celery import shared_task

from handoff.services import deadlines_sweep
from handoff.services.trigger import CHECK_TRIGGER_TASK, trigger_check


@shared_task(name="handoff.sweep_deadlines", ignore_result=True)
def sweep_deadlines() -> int:
    """Every few seconds (beat): act on due accept, queue, reply and idle deadlines."""
    return deadlines_sweep()


@shared_task(name=CHECK_TRIGGER_TASK, ignore_result=True)
def check_trigger(dialog_id: int) -> None:
    """Ask the classifier whether to offer this visitor a human; reveal the headset."""
    trigger_check(dialog_id=dialog_id)
