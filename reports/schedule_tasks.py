"""Celery tasks of scheduled reports: thin and named. (reports.tasks holds the job
engine's; this module is imported by ReportsConfig.ready(), since Celery's
autodiscovery looks only for `tasks` modules.)"""

from __future__ import annotations

from celery import shared_task

from reports.delivery import job_deliver
from reports.models import ReportJob
from reports.schedules import schedules_run


@shared_task(name="reports.schedules_run", ignore_result=True)
def run_schedules() -> int:
    """Beat, every minute: start the due schedules (each once, however often called)."""
    return schedules_run()


@shared_task(name="reports.job_deliver", ignore_result=True)
def deliver_job(job_id: int) -> int:
    """Deliver a scheduled job's file; returns how many problems were recorded. Not
    idempotent (a second call sends again), so it is never retried on its own."""
    job = ReportJob.objects.select_related("schedule__owner").filter(pk=job_id).first()
    if job is None:
        return 0
    return len(job_deliver(job))
