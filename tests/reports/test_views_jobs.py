"""The job list reads the chat and operator names of all the listed jobs' filters in
one query each: its query count does not grow with the number of jobs, and each job
still shows its own filters in words (only the user's chats and their operators)."""

from __future__ import annotations

import pytest

from handoff.dialog_filters import DialogFilters
from reports.enums import ReportType
from reports.models import ReportJob
from tests.chats.factories import ChatFactory
from tests.distributor.factories import OperatorFactory
from tests.reports.test_access import make_analyst

pytestmark = pytest.mark.django_db

JOBS = "/reports/jobs/"


def add_jobs(owner, count: int, chats, operator) -> None:
    for index in range(count):
        chat = chats[index % len(chats)]
        filters = DialogFilters(chat_ids=(chat.pk,), operator_id=operator.pk if index % 2 else None)
        ReportJob.objects.create(
            owner=owner, report_type=ReportType.ALL_SESSIONS, filters=filters.to_json()
        )


def test_the_job_list_takes_as_many_queries_for_50_jobs_as_for_2(
    client, django_assert_max_num_queries
):
    chats = [ChatFactory(name=f"Chat {index}") for index in range(5)]
    operator = OperatorFactory(display_name="Olga", chats=chats[:1])
    analyst = make_analyst("ann", chats=chats)
    client.force_login(analyst)

    add_jobs(analyst, 2, chats, operator)
    with django_assert_max_num_queries(15) as few:
        assert client.get(JOBS).status_code == 200
    add_jobs(analyst, 60, chats, operator)
    with django_assert_max_num_queries(15) as many:
        content = client.get(JOBS).content.decode()

    assert len(many.captured_queries) == len(few.captured_queries)
    assert content.count("chats: Chat ") == 50
    assert "operator: Olga" in content


def test_each_job_shows_only_names_of_the_users_chats_and_their_operators(client):
    mine, theirs = ChatFactory(name="Mine"), ChatFactory(name="Secret chat")
    hidden_operator = OperatorFactory(display_name="Hidden Hanna", chats=[theirs])
    analyst = make_analyst("ann", chats=[mine])
    client.force_login(analyst)
    ReportJob.objects.create(
        owner=analyst,
        report_type=ReportType.ALL_SESSIONS,
        filters=DialogFilters(chat_ids=(theirs.pk,), operator_id=hidden_operator.pk).to_json(),
    )
    ReportJob.objects.create(
        owner=analyst,
        report_type=ReportType.ALL_SESSIONS,
        filters=DialogFilters(chat_ids=(mine.pk, theirs.pk)).to_json(),
    )
    ReportJob.objects.create(
        owner=analyst, report_type=ReportType.ALL_SESSIONS, filters={"chat": "garbage"}
    )

    content = client.get(JOBS).content.decode()

    assert "Secret chat" not in content and "Hidden Hanna" not in content
    assert "chats: none of yours; operator: unknown" in content
    assert "chats: Mine" in content
    assert "(filters no longer valid)" in content
