"""reports.xlsx: sheets written in constant memory and read back with openpyxl."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from reports.builders.base import Column, ColumnKind, Sheet
from reports.xlsx import (
    DATETIME_FORMAT,
    EXCEL_MAX_CELL_CHARS,
    cell_text,
    sheet_title,
    workbook_write,
)
from tests.reports.jobs_dataset import wall

TEXT = Column("Text", ColumnKind.TEXT, width=40)
NUMBER = Column("Number", ColumnKind.INTEGER, width=9)


def write_and_open(tmp_path, sheets, **options):
    path = tmp_path / "report.xlsx"
    rows = workbook_write(sheets, path, **options)
    return rows, load_workbook(path)


def values(worksheet):
    return [tuple(cell.value for cell in row) for row in worksheet.iter_rows()]


def test_header_is_bold_and_frozen_and_columns_have_their_widths(tmp_path):
    sheet = Sheet("People", [TEXT, NUMBER], iter([("Anna", 3)]))
    _rows, workbook = write_and_open(tmp_path, [sheet])
    worksheet = workbook["People"]
    assert worksheet.freeze_panes == "A2"
    assert [cell.font.bold for cell in worksheet[1]] == [True, True]
    assert worksheet.column_dimensions["A"].width == 40
    assert worksheet.column_dimensions["B"].width == 9
    assert values(worksheet) == [("Text", "Number"), ("Anna", 3)]
    assert worksheet["A2"].font.bold is False


def test_kinds_become_real_excel_values(tmp_path):
    columns = [
        Column("When", ColumnKind.DATETIME),
        Column("Day", ColumnKind.DATE),
        Column("Cost", ColumnKind.DECIMAL),
        Column("Share", ColumnKind.PERCENT),
        Column("Wait", ColumnKind.SECONDS),
    ]
    row = (
        wall(2026, 1, 10, 10, 0, 5).replace(microsecond=999_000),
        datetime.date(2026, 1, 10),
        Decimal("0.12345"),
        0.25,
        datetime.timedelta(seconds=90.6),
    )
    _rows, workbook = write_and_open(tmp_path, [Sheet("Kinds", columns, iter([row]))])
    when, day, cost, share, wait = workbook["Kinds"][2]
    assert when.value == wall(2026, 1, 10, 10, 0, 5)
    assert when.is_date and when.number_format == DATETIME_FORMAT
    assert day.value == wall(2026, 1, 10)
    assert day.is_date and day.number_format == "yyyy-mm-dd"
    assert cost.value == pytest.approx(0.1235) and cost.number_format == "0.0000"
    assert share.value == 0.25 and share.number_format == "0.0%"
    assert wait.value == 91 and wait.data_type == "n"


def test_an_aware_datetime_is_shown_in_the_given_zone(tmp_path):
    moment = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=datetime.UTC)
    sheet = Sheet("Zone", [Column("When", ColumnKind.DATETIME)], iter([(moment,)]))
    _rows, workbook = write_and_open(tmp_path, [sheet], time_zone="Europe/Rome")
    assert workbook["Zone"]["A2"].value == wall(2026, 7, 1, 14)


@pytest.mark.parametrize(
    "text", ["=1+1", '=HYPERLINK("http://evil")', "#N/A", "#DIV/0!", "+1", "-1", "@SUM(A1)"]
)
def test_text_that_looks_like_a_formula_stays_text(tmp_path, text):
    _rows, workbook = write_and_open(tmp_path, [Sheet("T", [TEXT], iter([(text,)]))])
    cell = workbook["T"]["A2"]
    assert cell.value == text
    assert cell.data_type == "s"


def test_text_that_would_break_the_file_is_cleaned(tmp_path):
    rows = [
        ("bell\x07 nul\x00 esc\x1b tab\tnew\nline",),
        ("lone \ud800 surrogate",),
        ("not a character \ufffe\uffff",),
        ("x" * (EXCEL_MAX_CELL_CHARS + 10),),
    ]
    _rows, workbook = write_and_open(tmp_path, [Sheet("T", [TEXT], iter(rows))])
    cells = [row[0] for row in values(workbook["T"])[1:]]
    assert cells[0] == "bell nul esc tab\tnew\nline"
    assert cells[1] == "lone \ufffd surrogate"
    assert cells[2] == "not a character "
    assert len(cells[3]) == EXCEL_MAX_CELL_CHARS


def test_empty_values_leave_empty_cells_and_keep_the_row(tmp_path):
    assert cell_text(12) == "12"
    rows = [("", None), ("x", 1)]
    _rows, workbook = write_and_open(tmp_path, [Sheet("T", [TEXT, NUMBER], iter(rows))])
    assert values(workbook["T"]) == [("Text", "Number"), (None, None), ("x", 1)]


def test_a_sheet_at_the_row_limit_goes_on_in_a_numbered_sheet_with_its_header(tmp_path):
    rows = [(f"row {number}", number) for number in range(1, 8)]
    written, workbook = write_and_open(
        tmp_path, [Sheet("Sessions", [TEXT, NUMBER], iter(rows))], max_rows=3
    )
    assert written == 7
    assert workbook.sheetnames == ["Sessions", "Sessions (2)", "Sessions (3)", "Sessions (4)"]
    assert values(workbook["Sessions"]) == [("Text", "Number"), ("row 1", 1), ("row 2", 2)]
    assert values(workbook["Sessions (2)"]) == [("Text", "Number"), ("row 3", 3), ("row 4", 4)]
    assert values(workbook["Sessions (4)"]) == [("Text", "Number"), ("row 7", 7)]
    assert workbook["Sessions (3)"].freeze_panes == "A2"
    assert workbook["Sessions (3)"].column_dimensions["A"].width == 40


def test_a_sheet_exactly_at_the_limit_is_not_split(tmp_path):
    rows = [("a", 1), ("b", 2)]
    _written, workbook = write_and_open(
        tmp_path, [Sheet("S", [TEXT, NUMBER], iter(rows))], max_rows=3
    )
    assert workbook.sheetnames == ["S"]


def test_progress_is_reported_in_steps_not_per_row(tmp_path):
    calls = []
    rows = [(str(number), number) for number in range(10)]
    workbook_write(
        [Sheet("S", [TEXT, NUMBER], iter(rows))],
        tmp_path / "r.xlsx",
        progress=calls.append,
        progress_seconds=0,
        progress_check_rows=4,
    )
    # every 4 rows, and once at the end
    assert calls == [4, 8, 10]


def test_progress_waits_for_its_interval(tmp_path):
    calls = []
    rows = [(str(number), number) for number in range(10)]
    workbook_write(
        [Sheet("S", [TEXT, NUMBER], iter(rows))],
        tmp_path / "r.xlsx",
        progress=calls.append,
        progress_seconds=3600,
        progress_check_rows=1,
    )
    assert calls == [10]


def test_a_row_of_the_wrong_length_is_refused(tmp_path):
    with pytest.raises(ValueError, match="a row of 1 values for 2 columns"):
        workbook_write([Sheet("S", [TEXT, NUMBER], iter([("a",)]))], tmp_path / "r.xlsx")


def test_sheet_titles_are_made_valid():
    assert sheet_title("a/b:c*d?[e]\\f") == "a b c d  e  f"
    assert len(sheet_title("x" * 40, part=12)) == 31
    assert sheet_title("x" * 40, part=12).endswith("x (12)")
    assert sheet_title("") == "Sheet"


def test_a_report_without_sheets_is_still_a_workbook(tmp_path):
    written, workbook = write_and_open(tmp_path, [])
    assert written == 0
    assert workbook.sheetnames == ["Report"]


def test_no_temporary_sheet_file_is_left_behind_built_or_failed(tmp_path):
    # openpyxl streams each sheet to a temporary file until the workbook is saved; a
    # worker that builds for days must not collect them
    from openpyxl.worksheet._writer import ALL_TEMP_FILES

    before = list(ALL_TEMP_FILES)
    workbook_write([Sheet("S", [TEXT], iter([("a",)]))], tmp_path / "ok.xlsx")

    def failing_rows():
        yield ("a",)
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        workbook_write([Sheet("S", [TEXT], failing_rows())], tmp_path / "failed.xlsx")
    assert before == ALL_TEMP_FILES
    assert not (tmp_path / "failed.xlsx").exists()


def test_a_value_the_column_cannot_hold_fails_the_file_and_leaves_no_temporary_file(tmp_path):
    # refused while the row is serialised, inside openpyxl's sheet stream
    from openpyxl.worksheet._writer import ALL_TEMP_FILES

    before = list(ALL_TEMP_FILES)
    when = Column("When", ColumnKind.DATETIME)
    rows = [(datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),), ("yesterday",)]

    with pytest.raises(TypeError, match="When: not a datetime: 'yesterday'"):
        workbook_write([Sheet("S", [when], iter(rows))], tmp_path / "failed.xlsx")
    assert before == ALL_TEMP_FILES
    assert not (tmp_path / "failed.xlsx").exists()
