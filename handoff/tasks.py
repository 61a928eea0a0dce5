from celery import shared_task

from handoff.services import deadlines_sweep


@shared_task(name="handoff.sweep_deadlines", ignore_result=True)
def sweep_deadlines() -> int:
    """Every few seconds (beat): act on due accept, queue, reply and idle deadlines."""
    return deadlines_sweep()
