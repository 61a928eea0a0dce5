"""Every one of the nine reports, built by the real job path, opened back with
openpyxl: each sheet's header is its builder's columns, its rows are the rows the
builder yields (as Excel stores them), and the hidden chat appears nowhere."""

import datetime
from decimal import Decimal

import openpyxl
import pytest

from handoff.dialog_filters import DialogFilters
from handoff.selectors_dialogs import chat_time_zones
from reports.builders import BUILDERS
from reports.builders.base import ReportContext
from reports.enums import ReportJobStatus, ReportType
from reports.services import report_job_build, report_job_create
from tests.reports.jobs_dataset import analyst_make, dataset_make

pytestmark = pytest.mark.django_db


def _as_stored(value):
    """A value as openpyxl reads it back from the file."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time())
    if isinstance(value, bool):
        return value
    return value


def test_the_nine_report_types_all_have_a_builder():
    assert set(BUILDERS) == set(ReportType.values)


@pytest.mark.parametrize("report_type", ReportType.values)
@pytest.mark.parametrize("with_times", [False, True])
def test_each_report_is_a_real_workbook_holding_its_builders_rows(
    report_type, with_times, reports_storage
):
    data = dataset_make()
    analyst = analyst_make(chats=(data.shop,))
    job = report_job_create(
        user=analyst, report_type=report_type, filters=DialogFilters(), with_times=with_times
    )

    job = report_job_build(job.pk)

    assert job.status == ReportJobStatus.DONE, job.error
    workbook = openpyxl.load_workbook(reports_storage / job.file.name)
    context = ReportContext(
        user=analyst,
        chat_ids=frozenset({data.shop.pk}),
        filters=DialogFilters(),
        with_times=with_times,
        time_zones=chat_time_zones({data.shop.pk}),
    )
    expected = list(BUILDERS[report_type](context).sheets())
    assert workbook.sheetnames == [sheet.title for sheet in expected]
    for sheet in expected:
        stored = list(workbook[sheet.title].iter_rows(values_only=True))
        assert workbook[sheet.title].freeze_panes == "A2"
        assert list(stored[0]) == [column.header for column in sheet.columns]
        rows = [tuple(_as_stored(value) for value in row) for row in sheet.rows]
        assert len(stored) - 1 == len(rows), sheet.title
        for got, want in zip(stored[1:], rows, strict=True):
            for cell, value in zip(got, want, strict=False):
                if isinstance(value, float):
                    assert cell == pytest.approx(value, abs=1e-4)
                elif isinstance(value, str) and isinstance(cell, str):
                    assert cell == value.replace("\x00", "")[:32767]
                else:
                    assert cell == value, (sheet.title, got, want)
        text = repr(stored)
        assert "secret" not in text and "Hidden" not in text
