"""Write a report's sheets to an .xlsx file in constant memory: openpyxl's write-only
workbook (with lxml) streams each row to disk as it is appended, so a report of a
million rows holds one row at a time. Every cell is made safe here, whatever a
builder hands over: no stored text can break the file or become a formula."""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from lxml import etree
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.compat.strings import safe_string
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel

from reports.builders.base import Column, ColumnKind, Sheet

EXCEL_MAX_ROWS = 1_048_576  # per sheet, the header row included
EXCEL_MAX_CELL_CHARS = 32_767
EXCEL_MAX_TITLE_CHARS = 31
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
DECIMAL_FORMAT = "0.0000"
PERCENT_FORMAT = "0.0%"
FOUR_PLACES = Decimal("0.0001")

# what XML 1.0 (and so an .xlsx) cannot hold: C0 controls but tab, LF and CR; lone
# surrogates; U+FFFE and U+FFFF. lxml refuses the whole workbook for one of them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_IN_TITLE = re.compile(r"[\[\]:*?/\\]")

ProgressCallback = Callable[[int], None]


def cell_text(value: object) -> str:
    """Text an .xlsx can store: characters XML refuses dropped, lone surrogates
    replaced by U+FFFD, cut at Excel's 32,767 characters per cell."""
    text = value if isinstance(value, str) else str(value)
    if _NOT_XML.search(text):
        text = _NOT_XML.sub(lambda found: "\ufffd" if _SURROGATE.match(found[0]) else "", text)
    if len(text) > EXCEL_MAX_CELL_CHARS:
        text = text[:EXCEL_MAX_CELL_CHARS]
    return text


def sheet_title(title: str, part: int = 1) -> str:
    """A valid sheet name: no []:*?/\\, at most 31 characters, " (2)" for a later part."""
    suffix = f" ({part})" if part > 1 else ""
    base = _NOT_IN_TITLE.sub(" ", cell_text(title)).strip().strip("'") or "Sheet"
    return base[: EXCEL_MAX_TITLE_CHARS - len(suffix)].rstrip() + suffix


class _Progress:
    """Calls back at most once per `interval` seconds (checked every `check_rows`
    rows), and once at the end: the job row is not written per row."""

    def __init__(self, callback: ProgressCallback | None, interval: float, check_rows: int):
        self.callback = callback
        self.interval = interval
        self.check_rows = max(1, check_rows)
        self.rows_done = 0
        self.next_check = self.check_rows
        self.last_call = time.monotonic()

    def row_written(self) -> None:
        self.rows_done += 1
        if self.callback is None or self.rows_done < self.next_check:
            return
        self.next_check = self.rows_done + self.check_rows
        now = time.monotonic()
        if now - self.last_call >= self.interval:
            self.last_call = now
            self.callback(self.rows_done)

    def finish(self) -> None:
        if self.callback is not None:
            self.callback(self.rows_done)


class _SheetWriter:
    """Writes a builder's row tuples into a write-only sheet, one cell writer per
    column.

    The header goes through openpyxl's `append`; the data rows are serialised here
    straight into the sheet's lxml stream, one <row> element each, in the same XML
    openpyxl writes (inline strings, numbers, dates as serial numbers with the
    column's number format). openpyxl's own path makes a Cell per value and writes it
    through several Python calls: most of the time of a million-row report
    (bench/export.py). This leans on two attributes of openpyxl 3.1's write-only sheet
    (`_values_to_row`, `_writer.write_row`); tests/reports/test_xlsx.py reads every
    kind of cell back through openpyxl."""

    def __init__(self, workbook: Workbook, sheet: Sheet, default_zone: ZoneInfo):
        self.workbook = workbook
        self.sheet = sheet
        self.default_zone = default_zone
        self.worksheet = None
        self.columns = len(sheet.columns)
        self.cell_writers: list[Callable[[etree._Element, str, object], None]] = []
        self.letters = [get_column_letter(index) for index in range(1, self.columns + 1)]

    def open_part(self, part: int) -> None:
        worksheet = self.workbook.create_sheet(sheet_title(self.sheet.title, part))
        worksheet.freeze_panes = "A2"
        for index, column in enumerate(self.sheet.columns, start=1):
            worksheet.column_dimensions[get_column_letter(index)].width = column.width
        self.worksheet = worksheet
        bold = Font(bold=True)
        header = []
        for column in self.sheet.columns:
            cell = WriteOnlyCell(worksheet)
            _set_text(cell, cell_text(column.header))
            cell.font = bold
            header.append(cell)
        worksheet.append(header)
        self.cell_writers = [self._cell_writer(column) for column in self.sheet.columns]
        # the rows appended from now on come to self._write_row as they are
        worksheet._values_to_row = _rows_as_given
        worksheet._writer.write_row = self._write_row

    def append(self, row: tuple) -> None:
        if len(row) != self.columns:
            raise ValueError(
                f"sheet {self.sheet.title!r}: a row of {len(row)} values for {self.columns} columns"
            )
        self.worksheet.append(row)

    def _write_row(self, xf, row: tuple, row_number: int) -> None:
        element = etree.Element("row", r=str(row_number))
        number = str(row_number)
        for write, letter, value in zip(self.cell_writers, self.letters, row, strict=True):
            if value is not None:
                write(element, letter + number, value)
        xf.write(element)

    def _cell_writer(self, column: Column) -> Callable[[etree._Element, str, object], None]:
        kind = column.kind
        if kind == ColumnKind.TEXT:
            return _text_cell
        if kind == ColumnKind.INTEGER:
            return _integer_cell
        if kind == ColumnKind.SECONDS:
            return _seconds_cell
        styled = WriteOnlyCell(self.worksheet)
        styled.number_format = {
            ColumnKind.DECIMAL: DECIMAL_FORMAT,
            ColumnKind.PERCENT: PERCENT_FORMAT,
            ColumnKind.DATETIME: DATETIME_FORMAT,
            ColumnKind.DATE: DATE_FORMAT,
        }.get(kind, "General")
        style = {"s": str(styled.style_id), "t": "n"}  # registers the format in the workbook

        def number_cell(row: etree._Element, reference: str, text: str) -> None:
            cell = etree.SubElement(row, "c", r=reference, attrib=style)
            if text:
                etree.SubElement(cell, "v").text = text

        if kind == ColumnKind.DECIMAL:

            def decimal(row: etree._Element, reference: str, value: object) -> None:
                amount = Decimal(value).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)
                number_cell(row, reference, safe_string(amount))

            return decimal
        if kind == ColumnKind.PERCENT:

            def percent(row: etree._Element, reference: str, value: object) -> None:
                number_cell(row, reference, safe_string(float(value)))

            return percent
        epoch = self.workbook.epoch
        if kind == ColumnKind.DATETIME:
            zone = self.default_zone

            def moment(row: etree._Element, reference: str, value: object) -> None:
                if not isinstance(value, datetime.datetime):
                    raise TypeError(f"{column.header}: not a datetime: {value!r}")
                if value.tzinfo is not None:
                    value = value.astimezone(zone).replace(tzinfo=None)
                if value.microsecond:
                    value = value.replace(microsecond=0)
                number_cell(row, reference, safe_string(to_excel(value, epoch)))

            return moment
        if kind == ColumnKind.DATE:

            def day(row: etree._Element, reference: str, value: object) -> None:
                if isinstance(value, datetime.datetime):
                    value = value.date()
                if not isinstance(value, datetime.date):
                    raise TypeError(f"{column.header}: not a date: {value!r}")
                number_cell(row, reference, safe_string(to_excel(value, epoch)))

            return day
        raise ValueError(f"{column.header}: unknown column kind {kind!r}")


def _rows_as_given(values: tuple, _row_number: int) -> tuple:
    return values


_PRESERVE_SPACE = {"{http://www.w3.org/XML/1998/namespace}space": "preserve"}


def _text_cell(row: etree._Element, reference: str, value: object) -> None:
    """An inline string, whatever the text looks like (never a formula or an error);
    empty text leaves the cell empty."""
    text = cell_text(value)
    if not text:
        return
    cell = etree.SubElement(row, "c", r=reference, t="inlineStr")
    holder = etree.SubElement(cell, "is")
    if text != text.strip():
        etree.SubElement(holder, "t", attrib=_PRESERVE_SPACE).text = text
    else:
        etree.SubElement(holder, "t").text = text


def _integer_cell(row: etree._Element, reference: str, value: object) -> None:
    etree.SubElement(etree.SubElement(row, "c", r=reference, t="n"), "v").text = str(int(value))


def _seconds_cell(row: etree._Element, reference: str, value: object) -> None:
    _integer_cell(row, reference, _whole_seconds(value))


def _set_text(cell: WriteOnlyCell, text: str) -> None:
    """A string cell, whatever the text looks like (never a formula or an error)."""
    cell._value = text
    cell.data_type = "s"


def _whole_seconds(value: object) -> int:
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    return round(value)


def workbook_write(
    sheets: Iterable[Sheet],
    path: str | Path,
    *,
    max_rows: int = EXCEL_MAX_ROWS,
    progress: ProgressCallback | None = None,
    progress_seconds: float = 1.0,
    progress_check_rows: int = 500,
    time_zone: str = "UTC",
) -> int:
    """Write the sheets to `path` and return how many data rows were written.

    A sheet reaching `max_rows` rows (its header included) goes on in "Title (2)",
    "Title (3)"... each with the header again. DATETIME values that are aware are
    shown in `time_zone`; builders hand over naive ones already in the chat's wall
    clock. `progress(rows_done)` is called at most once per `progress_seconds`."""
    if max_rows < 2:
        raise ValueError("a sheet needs room for its header and a row")
    workbook = Workbook(write_only=True)
    counter = _Progress(progress, progress_seconds, progress_check_rows)
    zone = ZoneInfo(time_zone)
    wrote_a_sheet = False
    try:
        for sheet in sheets:
            writer = _SheetWriter(workbook, sheet, zone)
            part = 1
            writer.open_part(part)
            wrote_a_sheet = True
            rows_in_part = 1
            for row in sheet.rows:
                if rows_in_part >= max_rows:
                    part += 1
                    writer.open_part(part)
                    rows_in_part = 1
                writer.append(row)
                rows_in_part += 1
                counter.row_written()
    except BaseException:
        _abandon(workbook)
        raise
    if not wrote_a_sheet:
        workbook.create_sheet("Report")
    workbook.save(str(path))
    counter.finish()
    return counter.rows_done


def _abandon(workbook: Workbook) -> None:
    """Close and delete the sheets' temporary files of a workbook that will not be
    saved (a builder failed): a long-lived worker must not collect them."""
    for worksheet in workbook.worksheets:
        with suppress(Exception):
            worksheet.close()
        writer = getattr(worksheet, "_writer", None)
        if writer is not None:
            with suppress(Exception):
                writer.cleanup()
