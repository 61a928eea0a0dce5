"""Report jobs: the services (create, build, sweep) and the pages (chooser, status,
download), with their access rules and bad input."""

from __future__ import annotations

import datetime
import json
import re

import pytest
import redis
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from chats.enums import AuthorKind
from chats.models import Message
from config.celery import REPORTS_QUEUE
from handoff.dialog_filters import DialogFilters
from reports.builders import BUILDERS
from reports.builders.base import Column, ReportBuilder, Sheet
from reports.enums import ReportJobStatus, ReportType
from reports.models import ReportJob, ScheduledReport
from reports.phrases import PhraseCounter
from reports.services import (
    HEARTBEAT_STALE_MINUTES,
    INTERRUPTED_ERROR,
    MAX_ACTIVE_JOBS,
    JobInterrupted,
    _Heartbeat,
    report_files_expire,
    report_job_build,
    report_job_create,
    report_jobs_interrupted_fail,
    report_jobs_queued_resend,
)
from tests.distributor.factories import UserFactory
from tests.reports.jobs_dataset import analyst_make, dataset_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    return dataset_make()


@pytest.fixture
def analyst(data):
    return analyst_make(chats=(data.shop,))


@pytest.fixture
def browser(analyst):
    client = Client()
    client.force_login(analyst)
    return client


def job_make(owner, report_type=ReportType.ALL_SESSIONS, filters=None, with_times=False):
    return report_job_create(
        user=owner,
        report_type=report_type,
        filters=filters or DialogFilters(),
        with_times=with_times,
    )


class FailingBuilder(ReportBuilder):
    """Writes two rows, then fails as a builder with a bug would."""

    report_type = "failing"

    def rows_total(self) -> int:
        return 10

    def sheets(self):
        def rows():
            yield ("one",)
            yield ("two",)
            raise ZeroDivisionError("division by zero in row 3")

        yield Sheet("Broken", [Column("Text")], rows())


# --- report_job_create -------------------------------------------------------------


def test_a_job_is_queued_and_its_task_sent_after_commit(
    analyst, redis_url, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = job_make(
            analyst, filters=DialogFilters.from_query({"messenger": "web"}), with_times=True
        )
    # then
    assert job.status == ReportJobStatus.QUEUED
    assert job.filters == {"messenger": ["web"]}
    assert job.with_times is True
    assert len(callbacks) == 1
    queued = redis.Redis.from_url(redis_url).lrange(REPORTS_QUEUE, 0, -1)
    assert len(queued) == 1
    message = json.loads(queued[0])
    assert message["headers"]["task"] == "reports.build_job"
    assert message["headers"]["argsrepr"] == f"({job.pk},)"


def test_only_analysts_may_create_jobs(data):
    operator_user = UserFactory()
    with pytest.raises(PermissionDenied):
        job_make(operator_user)
    assert ReportJob.objects.count() == 0


@pytest.mark.parametrize("report_type", ["", "nonsense", "billing'; drop table", "x" * 500])
def test_an_unknown_report_type_is_refused(analyst, report_type):
    with pytest.raises(ValidationError):
        job_make(analyst, report_type=report_type)
    assert ReportJob.objects.count() == 0


def test_filters_that_did_not_parse_are_refused(analyst):
    with pytest.raises(ValidationError, match="Unknown status"):
        job_make(analyst, filters=DialogFilters.from_query({"status": "bogus"}))
    assert ReportJob.objects.count() == 0


def test_an_analyst_may_have_only_a_few_jobs_waiting(analyst):
    for _number in range(MAX_ACTIVE_JOBS):
        job_make(analyst)
    with pytest.raises(ValidationError, match="wait for one to finish"):
        job_make(analyst)
    assert ReportJob.objects.count() == MAX_ACTIVE_JOBS


# --- report_job_build ----------------------------------------------------------------


def test_a_built_job_is_done_with_its_file(analyst, data, reports_storage):
    job = job_make(analyst)
    # when
    built = report_job_build(job.pk)
    # then
    assert built.status == ReportJobStatus.DONE
    assert built.error == ""
    # 3 dialogs + 11 messages of the analyst's chat (not the hidden chat's)
    assert (built.rows_done, built.rows_total) == (14, 14)
    assert built.started_at <= built.finished_at == built.heartbeat_at
    assert built.expires_at == built.finished_at + datetime.timedelta(hours=72)
    assert re.fullmatch(rf"all-sessions-shop-\d{{8}}-\d{{6}}-{job.pk}\.xlsx", built.file.name)
    workbook = load_workbook(reports_storage / built.file.name)
    assert workbook.sheetnames == ["Sessions", "Messages"]
    assert workbook["Sessions"].max_row == 4
    # nothing left beside the file
    assert sorted(path.name for path in reports_storage.iterdir()) == [built.file.name]


def test_the_job_sees_only_the_owners_chats_even_if_its_filters_name_others(
    analyst, data, reports_storage
):
    filters = DialogFilters.from_query({"chat": [str(data.hidden.pk)]})
    job = job_make(analyst, filters=filters)
    built = report_job_build(job.pk)
    assert built.status == ReportJobStatus.DONE
    assert built.rows_done == 0
    assert "-all-" in built.file.name
    workbook = load_workbook(reports_storage / built.file.name)
    assert workbook["Sessions"].max_row == 1


def test_building_twice_builds_once(analyst, reports_storage):
    job = job_make(analyst)
    first = report_job_build(job.pk)
    # when
    again = report_job_build(job.pk)
    # then
    assert again is None
    assert ReportJob.objects.get(pk=job.pk).file.name == first.file.name
    assert len(list(reports_storage.iterdir())) == 1


def test_a_failing_builder_fails_the_job_with_a_short_error(analyst, monkeypatch, reports_storage):
    monkeypatch.setitem(BUILDERS, "failing", FailingBuilder)
    job = job_make(analyst, report_type="failing")
    # when
    failed = report_job_build(job.pk)
    # then
    assert failed.status == ReportJobStatus.FAILED
    assert failed.error == "ZeroDivisionError: division by zero in row 3"
    assert failed.finished_at is not None
    assert not failed.file
    assert list(reports_storage.iterdir()) == []


def test_stored_filters_that_no_longer_parse_fail_the_job(analyst, reports_storage):
    job = job_make(analyst)
    ReportJob.objects.filter(pk=job.pk).update(filters={"status": "gone"})
    failed = report_job_build(job.pk)
    assert failed.status == ReportJobStatus.FAILED
    assert failed.error.startswith("ValidationError: ")
    assert "Unknown status." in failed.error


def test_progress_is_written_while_building_and_stops_a_job_failed_meanwhile(
    analyst, data, monkeypatch, reports_storage
):
    seen = []

    class WatchedBuilder(ReportBuilder):
        report_type = "watched"

        def rows_total(self):
            return 6

        def sheets(self):
            def rows():
                for number in range(6):
                    job = ReportJob.objects.get(report_type="watched")
                    seen.append((job.status, job.rows_done))
                    if number == 4:
                        # the sweep decides the worker is gone
                        ReportJob.objects.filter(pk=job.pk).update(
                            status=ReportJobStatus.FAILED, error=INTERRUPTED_ERROR
                        )
                    yield (str(number),)

            yield Sheet("Rows", [Column("N")], rows())

    monkeypatch.setitem(BUILDERS, "watched", WatchedBuilder)
    job = job_make(analyst, report_type="watched")
    # when: progress every 2 rows
    result = report_job_build(job.pk, progress_seconds=0, progress_check_rows=2)
    # then: progress moved in steps of two while running, and the build stopped
    assert seen == [
        ("running", 0),
        ("running", 0),
        ("running", 2),
        ("running", 2),
        ("running", 4),
        ("failed", 4),
    ]
    assert result.status == ReportJobStatus.FAILED
    assert result.error == INTERRUPTED_ERROR
    assert not result.file
    assert list(reports_storage.iterdir()) == []


# --- sweeps ----------------------------------------------------------------------


def test_expired_files_are_deleted_and_the_job_says_so(analyst, reports_storage):
    job = report_job_build(job_make(analyst).pk)
    kept = report_job_build(job_make(analyst).pk)
    ReportJob.objects.filter(pk=kept.pk).update(
        expires_at=job.expires_at + datetime.timedelta(seconds=1)
    )
    name = job.file.name
    # when
    expired = report_files_expire(now=job.expires_at)
    # then
    assert expired == 1
    job.refresh_from_db()
    assert job.status == ReportJobStatus.EXPIRED
    assert not job.file
    assert not (reports_storage / name).exists()
    assert (reports_storage / kept.file.name).exists()
    assert report_files_expire(now=job.expires_at) == 0


def test_a_running_job_whose_heartbeat_stopped_is_failed_as_interrupted(analyst):
    now = timezone.now()
    stale, fresh = job_make(analyst), job_make(analyst)
    ReportJob.objects.filter(pk=stale.pk).update(
        status=ReportJobStatus.RUNNING,
        heartbeat_at=now - datetime.timedelta(minutes=HEARTBEAT_STALE_MINUTES + 1),
    )
    ReportJob.objects.filter(pk=fresh.pk).update(
        status=ReportJobStatus.RUNNING, heartbeat_at=now - datetime.timedelta(minutes=1)
    )
    # when
    assert report_jobs_interrupted_fail(now=now) == 1
    # then
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, stale.error) == (ReportJobStatus.FAILED, INTERRUPTED_ERROR)
    assert fresh.status == ReportJobStatus.RUNNING
    # a redelivered task finds the failed job and leaves it alone
    assert report_job_build(stale.pk) is None
    assert report_jobs_interrupted_fail(now=now) == 0


# --- the chooser page ----------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(data):
    for url in (
        reverse("reports:job_list"),
        reverse("reports:job_status", args=[1]),
        reverse("reports:job_download", args=[1]),
    ):
        response = Client().get(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_signed_in_non_analysts_are_refused(data):
    client = Client()
    client.force_login(UserFactory())
    assert client.get(reverse("reports:job_list")).status_code == 403
    response = client.post(reverse("reports:job_list"), {"report_type": "all_sessions"})
    assert response.status_code == 403
    assert ReportJob.objects.count() == 0


def test_the_chooser_shows_the_viewers_filters_in_words(browser, data):
    query = (
        f"chat={data.shop.pk}&messenger=telegram&status=closed"
        "&date_from=2026-01-01&date_to=2026-01-31&text=order"
    )
    response = browser.get(reverse("reports:job_list") + "?" + query)
    assert response.status_code == 200
    page = response.content.decode()
    assert "chats: Shop" in page
    assert "channels: Telegram" in page
    assert "status: closed" in page
    assert "started 2026-01-01 to 2026-01-31" in page
    assert "text contains “order”" in page
    # the form carries the same filters
    hidden = re.search(r'name="filters" value="([^"]*)"', page)[1]
    carried = DialogFilters.from_query(QueryDict(hidden.replace("&amp;", "&")))
    assert carried == DialogFilters.from_query(QueryDict(query))
    assert '<option value="all_sessions" selected>' in page


def test_the_chooser_names_no_chat_the_analyst_may_not_read(browser, data):
    page = browser.get(reverse("reports:job_list") + f"?chat={data.hidden.pk}").content.decode()
    assert "Hidden" not in page
    assert "chats: none of yours" in page


def test_the_chooser_says_which_filters_it_ignored(browser):
    response = browser.get(reverse("reports:job_list") + "?status=bogus&date_from=yesterday")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<span class="error-label">Status</span> — Unknown status. (filter ignored)' in page
    assert (
        '<span class="error-label">From</span> — Enter a date as YYYY-MM-DD. (filter ignored)'
        in page
    )


def test_build_creates_a_job_and_goes_back_to_the_chooser(browser, analyst, data):
    filters = f"chat={data.shop.pk}&messenger=web"
    response = browser.post(
        reverse("reports:job_list"),
        {"filters": filters, "report_type": "bot_vs_operator", "with_times": "on"},
    )
    assert response.status_code == 302
    job = ReportJob.objects.get()
    assert (
        response["Location"]
        == reverse("reports:job_list")
        + "?"
        + DialogFilters.from_query({"chat": str(data.shop.pk), "messenger": "web"}).to_query()
    )
    assert (job.owner, job.report_type, job.with_times) == (analyst, "bot_vs_operator", True)
    assert job.filters == {"chat": [data.shop.pk], "messenger": ["web"]}
    page = browser.get(response["Location"]).content.decode()
    assert "Bot vs operator" in page
    assert 'data-status="queued"' in page


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"report_type": "nonsense"}, "Unknown report."),
        ({"report_type": ""}, "Unknown report."),
        ({"report_type": "all_sessions", "filters": "status=bogus"}, "Unknown status."),
        ({"report_type": "all_sessions", "filters": "chat=-4"}, "Unknown chat."),
        (
            {"report_type": "all_sessions", "filters": "operator=99999999999999999999999"},
            "Unknown manager.",
        ),
        (
            {"report_type": "all_sessions", "filters": "text=" + "x" * 300},
            "Search for at most 200 characters.",
        ),
        (
            {"report_type": "all_sessions", "filters": "a=" + "x" * 5000},
            "The filters are too long.",
        ),
    ],
)
def test_a_bad_build_request_gets_a_clear_error_and_no_job(browser, form, message):
    response = browser.post(reverse("reports:job_list"), form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert ReportJob.objects.count() == 0


def test_a_build_request_needs_the_csrf_token(analyst):
    client = Client(enforce_csrf_checks=True)
    client.force_login(analyst)
    response = client.post(reverse("reports:job_list"), {"report_type": "all_sessions"})
    assert response.status_code == 403
    assert ReportJob.objects.count() == 0


def test_the_list_shows_only_ones_own_jobs_newest_first(browser, analyst, data):
    other = analyst_make("other", chats=(data.shop,))
    mine_old = job_make(analyst, report_type=ReportType.PAGES_VISITED)
    mine_new = job_make(analyst, report_type=ReportType.CLIENT_PHRASES)
    theirs = job_make(other, report_type=ReportType.POPULAR_PHRASES)
    page = browser.get(reverse("reports:job_list")).content.decode()
    assert page.index(f"/reports/jobs/{mine_new.pk}/status") < page.index(
        f"/reports/jobs/{mine_old.pk}/status"
    )
    assert f"/reports/jobs/{theirs.pk}/status" not in page


def test_a_failed_jobs_error_and_a_done_jobs_link_are_on_the_page(
    browser, analyst, monkeypatch, reports_storage
):
    monkeypatch.setitem(BUILDERS, "failing", FailingBuilder)
    failed = report_job_build(job_make(analyst, report_type="failing").pk)
    done = report_job_build(job_make(analyst).pk)
    page = browser.get(reverse("reports:job_list")).content.decode()
    assert "ZeroDivisionError: division by zero in row 3" in page
    assert f'href="/reports/jobs/{done.pk}/download"' in page
    assert f'href="/reports/jobs/{failed.pk}/download"' not in page


# --- status and download ------------------------------------------------------------


def test_status_tells_progress_and_the_download_link(browser, analyst, reports_storage):
    job = job_make(analyst)
    queued = browser.get(reverse("reports:job_status", args=[job.pk])).json()
    assert queued == {
        "id": job.pk,
        "status": "queued",
        "status_label": "queued",
        "rows_done": 0,
        "rows_total": 0,
        "error": "",
        "download_url": None,
        "expires_at": None,
    }
    report_job_build(job.pk)
    done = browser.get(reverse("reports:job_status", args=[job.pk])).json()
    assert (done["status"], done["rows_done"], done["rows_total"]) == ("done", 14, 14)
    assert done["download_url"] == f"/reports/jobs/{job.pk}/download"
    assert done["expires_at"]


def test_the_owner_downloads_the_file(browser, analyst, reports_storage):
    job = report_job_build(job_make(analyst).pk)
    response = browser.get(reverse("reports:job_download", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"] == f'attachment; filename="{job.file.name}"'
    body = b"".join(response.streaming_content)
    assert body == (reports_storage / job.file.name).read_bytes()


def test_another_analysts_job_is_not_found(analyst, data, reports_storage):
    job = report_job_build(job_make(analyst).pk)
    other = Client()
    other.force_login(analyst_make("other", chats=(data.shop,)))
    assert other.get(reverse("reports:job_download", args=[job.pk])).status_code == 404
    assert other.get(reverse("reports:job_status", args=[job.pk])).status_code == 404
    assert other.get(reverse("reports:job_download", args=[job.pk + 1000])).status_code == 404


def test_staff_may_download_any_job(analyst, reports_storage):
    job = report_job_build(job_make(analyst).pk)
    staff = Client()
    staff.force_login(UserFactory(username="boss", is_staff=True))
    assert staff.get(reverse("reports:job_download", args=[job.pk])).status_code == 200


def test_a_job_not_built_yet_has_nothing_to_download(browser, analyst):
    job = job_make(analyst)
    assert browser.get(reverse("reports:job_download", args=[job.pk])).status_code == 404


def test_an_expired_job_is_gone_with_a_clear_page(browser, analyst, reports_storage):
    job = report_job_build(job_make(analyst).pk)
    report_files_expire(now=job.expires_at)
    response = browser.get(reverse("reports:job_download", args=[job.pk]))
    assert response.status_code == 410
    assert "This report's file was deleted" in response.content.decode()


def test_status_and_download_refuse_other_methods(browser, analyst):
    job = job_make(analyst)
    assert browser.post(reverse("reports:job_status", args=[job.pk])).status_code == 405
    assert browser.delete(reverse("reports:job_list")).status_code == 405


def test_progress_is_written_while_rows_stream_from_an_open_cursor(analyst, data, reports_storage):
    # given: 5,000 more messages, more than one fetch of the streaming query
    Message.objects.bulk_create(
        Message(
            dialog=data.d3, sequence=10 + number, author_kind=AuthorKind.CLIENT, text=f"m{number}"
        )
        for number in range(5000)
    )
    job = job_make(analyst, with_times=True)
    # when: progress is written every 100 rows, between fetches of the open cursor
    built = report_job_build(job.pk, progress_seconds=0, progress_check_rows=100)
    # then
    assert (built.status, built.error) == (ReportJobStatus.DONE, "")
    assert (built.rows_done, built.rows_total) == (5014, 5014)
    workbook = load_workbook(reports_storage / built.file.name, read_only=True)
    assert sum(1 for _row in workbook["Messages"].iter_rows()) == 1 + 5011


def test_a_long_read_keeps_the_heartbeat_moving_until_the_job_is_stopped(analyst):
    job = job_make(analyst)
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    ReportJob.objects.filter(pk=job.pk).update(
        status=ReportJobStatus.RUNNING, heartbeat_at=long_ago
    )
    heartbeat = _Heartbeat(job.pk, interval=0)
    # when
    heartbeat()
    # then
    job.refresh_from_db()
    assert job.heartbeat_at > long_ago
    ReportJob.objects.filter(pk=job.pk).update(status=ReportJobStatus.FAILED)
    with pytest.raises(JobInterrupted):
        heartbeat()


def test_popular_phrases_beat_once_per_message_read(analyst, data):
    beats = []
    counter = PhraseCounter().add_all(
        [(1, "cancel order"), (1, "where is my order"), (2, "order")],
        every_message=lambda: beats.append(1),
    )
    assert len(beats) == 3
    assert counter.top(1) == [("order", 3, 2), ("cancel", 1, 1)]


def test_a_scheduled_job_is_built_without_the_waiting_limit(analyst, reports_storage):
    schedule = ScheduledReport.objects.create(
        owner=analyst, name="Daily sessions", report_type=ReportType.ALL_SESSIONS
    )
    for _number in range(MAX_ACTIVE_JOBS):
        job_make(analyst)
    # when: the schedule's job is made past the analyst's limit
    job = report_job_create(
        user=analyst,
        report_type=ReportType.ALL_SESSIONS,
        filters=DialogFilters(),
        with_times=False,
        schedule=schedule,
    )
    built = report_job_build(job.pk)
    # then
    assert (built.status, built.schedule) == (ReportJobStatus.DONE, schedule)
    assert built.rows_done == 14


def test_the_sweep_sends_again_the_task_of_a_job_left_queued(analyst, redis_url):
    # given: a job queued 11 minutes ago whose task never reached the broker
    now = timezone.now()
    old = job_make(analyst)
    job_make(analyst)  # asked for just now: its task is still on its way
    ReportJob.objects.filter(pk=old.pk).update(created_at=now - datetime.timedelta(minutes=11))
    # when
    assert report_jobs_queued_resend(now=now) == 1
    # then: one task, for the old job
    queued = redis.Redis.from_url(redis_url).lrange(REPORTS_QUEUE, 0, -1)
    assert [json.loads(body)["headers"]["argsrepr"] for body in queued] == [f"({old.pk},)"]


def test_a_file_gone_from_the_disk_is_gone_for_the_download_too(browser, analyst, reports_storage):
    job = report_job_build(job_make(analyst).pk)
    (reports_storage / job.file.name).unlink()
    response = browser.get(reverse("reports:job_download", args=[job.pk]))
    assert response.status_code == 410


def test_an_analyst_taken_out_of_the_group_no_longer_downloads_their_jobs(
    browser, analyst, reports_storage
):
    job = report_job_build(job_make(analyst).pk)
    analyst.groups.clear()
    assert browser.get(reverse("reports:job_download", args=[job.pk])).status_code == 403
    assert browser.get(reverse("reports:job_status", args=[job.pk])).status_code == 403
