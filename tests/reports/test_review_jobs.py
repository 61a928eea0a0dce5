"""Review of the job engine: what a failed or killed build leaves on the disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from handoff.dialog_filters import DialogFilters
from reports.builders import BUILDERS
from reports.builders.base import Column, ReportBuilder, Sheet
from reports.enums import ReportJobStatus, ReportType
from reports.models import ReportJob
from reports.services import (
    MAX_ACTIVE_JOBS,
    TEMPORARY_PREFIX,
    report_job_build,
    report_job_create,
    report_temporary_files_remove,
    reports_sweep,
)
from tests.reports.jobs_dataset import analyst_make, dataset_make
from tests.threads import run_in_threads

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst():
    data = dataset_make()
    return analyst_make(chats=(data.shop,))


def job_make(owner, report_type=ReportType.ALL_SESSIONS):
    return report_job_create(
        user=owner, report_type=report_type, filters=DialogFilters(), with_times=False
    )


def test_a_build_failing_after_its_file_was_moved_in_leaves_no_file(
    analyst, reports_storage, settings
):
    # a retention so long that the expiry date overflows: the last step of the build
    # fails (before the review the file had already been moved in, and stayed there,
    # owned by no job: the expiry sweep deletes only the files of done jobs)
    settings.REPORT_RETENTION_HOURS = 10**8
    job = job_make(analyst)
    # when
    failed = report_job_build(job.pk)
    # then
    assert failed.status == ReportJobStatus.FAILED
    assert failed.error.startswith("OverflowError")
    assert not failed.file
    assert list(reports_storage.iterdir()) == []


class DirectoryWatchingBuilder(ReportBuilder):
    """Notes the files beside the reports while its rows are written."""

    report_type = "watching"
    seen: list[str] = []

    def rows_total(self) -> int:
        return 1

    def sheets(self):
        def rows():
            storage = ReportJob._meta.get_field("file").storage
            DirectoryWatchingBuilder.seen = sorted(
                path.name for path in Path(storage.location).iterdir()
            )
            yield ("one",)

        yield Sheet("Watched", [Column("Text")], rows())


def test_the_file_being_built_is_named_after_its_job(analyst, reports_storage, monkeypatch):
    monkeypatch.setitem(BUILDERS, "watching", DirectoryWatchingBuilder)
    job = job_make(analyst, report_type="watching")
    # when
    built = report_job_build(job.pk)
    # then
    assert built.status == ReportJobStatus.DONE
    (temporary,) = DirectoryWatchingBuilder.seen
    assert temporary.startswith(f"{TEMPORARY_PREFIX}{job.pk}-")


def test_the_sweep_removes_files_left_by_killed_builds_and_keeps_running_ones(
    analyst, reports_storage
):
    # a worker killed mid-build (SIGKILL, OOM) never runs its clean-up: its
    # half-written file stayed in REPORTS_ROOT for ever before the review
    killed = job_make(analyst)
    running = job_make(analyst)
    ReportJob.objects.filter(pk=killed.pk).update(status=ReportJobStatus.FAILED)
    ReportJob.objects.filter(pk=running.pk).update(status=ReportJobStatus.RUNNING)
    left = reports_storage / f"{TEMPORARY_PREFIX}{killed.pk}-k1ll3d.xlsx"
    of_a_deleted_job = reports_storage / f"{TEMPORARY_PREFIX}999999-g0ne.xlsx"
    live = reports_storage / f"{TEMPORARY_PREFIX}{running.pk}-l1ve.xlsx"
    report = reports_storage / "all-sessions-shop-20260101-000000-1.xlsx"
    unrelated = reports_storage / ".building-notes.txt"
    for path in (left, of_a_deleted_job, live, report, unrelated):
        path.write_bytes(b"x")
    # when
    removed = report_temporary_files_remove()
    # then
    assert removed == 2
    assert sorted(path.name for path in reports_storage.iterdir()) == sorted(
        [live.name, report.name, unrelated.name]
    )
    # and the periodic sweep runs it
    left.write_bytes(b"x")
    assert reports_sweep()["temporary_removed"] == 1
    assert not left.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_cannot_pass_the_limit_of_waiting_reports(redis_url):
    # the count and the insert were two statements: requests at the same instant could
    # all see room for one more and all make a job
    data = dataset_make()
    rounds = 10 if connection.vendor == "postgresql" else 3
    for round_number in range(rounds):
        owner = analyst_make(username=f"analyst{round_number}", chats=(data.shop,))
        for _index in range(MAX_ACTIVE_JOBS - 1):
            job_make(owner)
        refused: list[ValidationError] = []

        def ask(_index: int, owner=owner, refused=refused) -> None:
            try:
                job_make(owner)
            except ValidationError as error:
                refused.append(error)

        # when
        errors = run_in_threads(8, ask)
        # then
        assert errors == []
        assert len(refused) == 7
        active = ReportJob.objects.filter(owner=owner, status=ReportJobStatus.QUEUED)
        assert active.count() == MAX_ACTIVE_JOBS
