"""The Celery task of scheduled reports: thin and named. (reports.tasks holds the job
engine's, which also delivers a scheduled job once built; this module is imported by
ReportsConfig.ready(), since Celery's autodiscovery looks only for `tasks` modules.)"""

from __future__ import annotations

from celery import shared_task

from reports.schedules import schedules_run


@shared_task(name="reports.schedules_run", ignore_result=True)
def run_schedules() -> int:
    """Beat, every minute: start the due schedules (each once, however often called)."""
    return schedules_run()
