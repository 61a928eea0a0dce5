from celery import shared_task

from reports.services import BUILD_JOB_TASK, report_job_build, reports_sweep


@shared_task(name=BUILD_JOB_TASK, ignore_result=True)
def build_job(job_id: int) -> None:
    """Build one report job's file. A job already built, failed or being built by
    another worker is left alone (the service claims only a queued job)."""
    report_job_build(job_id)


@shared_task(name="reports.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Every few minutes (beat): delete expired report files, fail builds whose
    worker died, send lost build tasks again, delete killed builds' half-written
    files."""
    return reports_sweep()
