"""Regression (review): an analyst who lost a chat's grant could still download the
reports already built from that chat's dialogs, until they expired."""

import pytest
from django.test import Client
from django.urls import reverse

from handoff.dialog_filters import DialogFilters
from reports.models import AnalystChatGrant
from reports.services import report_job_build, report_job_create
from tests.distributor.factories import UserFactory
from tests.reports.jobs_dataset import analyst_make, dataset_make

pytestmark = pytest.mark.django_db


def _built(owner):
    job = report_job_create(
        user=owner, report_type="all_sessions", filters=DialogFilters(), with_times=False
    )
    return report_job_build(job.pk)


def test_a_job_records_the_chats_it_was_built_from(reports_storage):
    data = dataset_make()
    analyst = analyst_make(chats=(data.shop,))
    job = _built(analyst)
    assert job.chat_ids == [data.shop.pk]


def test_losing_a_chat_loses_the_reports_built_from_it(reports_storage):
    data = dataset_make()
    analyst = analyst_make(chats=(data.shop,))
    job = _built(analyst)
    browser = Client()
    browser.force_login(analyst)
    url = reverse("reports:job_download", args=[job.pk])
    assert browser.get(url).status_code == 200

    AnalystChatGrant.objects.filter(user=analyst, chat=data.shop).delete()

    assert browser.get(url).status_code == 404
    # staff still may (they read every chat)
    staff = Client()
    staff.force_login(UserFactory(username="boss", is_staff=True))
    assert staff.get(url).status_code == 200
    # and the grant given back gives the file back
    AnalystChatGrant.objects.create(user=analyst, chat=data.shop)
    assert browser.get(url).status_code == 200
