"""Report export bench: the "all sessions, with time in dialogs" report of a database
holding --messages messages (SQLite or PostgreSQL), built by the code the Celery task
runs (reports.services.report_job_build on a queued ReportJob of a staff owner), timed
beside bare openpyxl writing the same rows from memory in the same process.
Goals: ratio >= 0.8 and RSS growth <= 60 MB at any size.

The database is filled with bench/history_fill.py's year of history (--chats chats,
--dialogs dialogs; COPY on PostgreSQL, executemany in one transaction on SQLite):
SQLite is a new temporary file each run; the PostgreSQL database given (e.g. by
tests/with_postgres.sh) must be empty or hold an earlier fill of the same sizes,
which is reused.

Phases, one process, DEBUG off:
  1. export: RSS (/proc) before; report_job_build on a new job, RSS sampled every
     10 ms by a thread; rows = the job's rows_done (both sheets' data rows);
  2. bare: the builder's own row tuples (every sheet, the values the writer is handed)
     materialised in a list (not timed), then openpyxl's write-only workbook (lxml)
     appends them as they are, a plain header row on each sheet, and saves (timed).
ratio = export rows/s / bare rows/s (wall clock; the ratio by this process's CPU time,
less moved by a busy machine, is printed above it); rss_growth_mb = peak RSS during
the export - RSS before it.

The last line printed is always
    export: rows=.. rows_per_s=.. ratio=.. rss_growth_mb=..

Usage (from the repository root):
    .venv/bin/python bench/export.py                       # SQLite, 1,000,000 messages
    tests/with_postgres.sh sh -c '.venv/bin/python bench/export.py --database postgres'
    options: [--messages 1000000] [--dialogs 50000] [--chats 5] [--quick]
             [--database-url URL] (PostgreSQL; default $DATABASE_URL)
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench.harness import HardLimit, rss_kb, run_manage  # noqa: E402
from bench.history_fill import existing, fill  # noqa: E402


class PeakRss:
    """Samples this process's RSS every `interval` seconds on a thread; `peak_kb` is
    the highest seen (the sample at start and stop included)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak_kb = rss_kb(os.getpid())
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        pid = os.getpid()
        while not self.stopping.wait(self.interval):
            self.peak_kb = max(self.peak_kb, rss_kb(pid))

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join()
        self.peak_kb = max(self.peak_kb, rss_kb(os.getpid()))


def export_job(owner) -> tuple[object, float, float, int, int]:
    """Build an "all sessions, with time in dialogs" job as the worker does; returns
    (the job, seconds, this process's CPU seconds, RSS before in KB, peak RSS during
    in KB)."""
    from handoff.dialog_filters import DialogFilters
    from reports.enums import ReportJobStatus, ReportType
    from reports.models import ReportJob
    from reports.services import report_job_build

    job = ReportJob.objects.create(
        owner=owner,
        report_type=ReportType.ALL_SESSIONS,
        filters=DialogFilters().to_json(),
        with_times=True,
    )
    gc.collect()
    before = rss_kb(os.getpid())
    with PeakRss() as peak:
        started, cpu_started = time.perf_counter(), time.process_time()
        built = report_job_build(job.pk)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if built is None or built.status != ReportJobStatus.DONE:
        raise SystemExit(f"export: the job did not build: {built and built.error}")
    return built, seconds, cpu, before, peak.peak_kb


def builder_rows(owner) -> list[tuple[str, list[str], list[tuple]]]:
    """Every sheet of the same report as (title, headers, rows): the tuples the
    builder hands the writer, with the job's context."""
    from handoff.dialog_filters import DialogFilters
    from handoff.selectors_dialogs import chat_time_zones
    from reports.access import chat_ids_for_analyst
    from reports.builders.all_sessions import AllSessionsBuilder
    from reports.builders.base import ReportContext

    chat_ids = chat_ids_for_analyst(owner)
    context = ReportContext(
        user=owner,
        chat_ids=frozenset(chat_ids),
        filters=DialogFilters(),
        with_times=True,
        time_zones=chat_time_zones(chat_ids),
    )
    return [
        (sheet.title, [column.header for column in sheet.columns], list(sheet.rows))
        for sheet in AllSessionsBuilder(context).sheets()
    ]


def bare_write(sheets: list[tuple[str, list[str], list[tuple]]], path: Path) -> tuple[float, float]:
    """openpyxl write-only, plain appends; returns the seconds and CPU seconds it
    took."""
    from openpyxl import Workbook

    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    workbook = Workbook(write_only=True)
    for title, headers, rows in sheets:
        worksheet = workbook.create_sheet(title)
        worksheet.append(headers)
        for row in rows:
            worksheet.append(row)
    workbook.save(str(path))
    return time.perf_counter() - started, time.process_time() - cpu_started


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="the PostgreSQL database for --database postgres (default $DATABASE_URL)",
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--dialogs", type=int, default=50_000)
    parser.add_argument("--chats", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=3600.0, help="overall limit (s)")
    parser.add_argument("--quick", action="store_true", help="20,000 messages, 1,000 dialogs")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.dialogs = 20_000, 1_000
    if args.dialogs < 1 or args.messages < args.dialogs or args.chats < 1:
        parser.error("need at least one chat and one dialog, and a message per dialog")
    if args.database == "postgres" and not args.database_url.startswith(
        ("postgres://", "postgresql://", "pgsql://")
    ):
        parser.error("--database postgres needs --database-url (or $DATABASE_URL) postgres://...")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = HardLimit("export", args.timeout).start()
    work = Path(tempfile.mkdtemp(prefix="baton-export-bench-"))
    try:
        return run(args, work, limit)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, limit: HardLimit) -> int:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    if args.database == "postgres":
        os.environ["DATABASE_URL"] = args.database_url
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ["BATON_VAR_DIR"] = str(work)
    os.environ["REPORTS_ROOT"] = str(work / "reports")
    os.environ["BATON_DATABASE_NAME"] = ""  # a test-suite override must not leak in
    os.environ["DEBUG"] = "0"  # DEBUG would keep every query in memory
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    run_manage(["migrate", "--noinput"], dict(os.environ), timeout=600)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    started = time.monotonic()
    data = existing(bench="export", dialogs=args.dialogs, messages=args.messages)
    if data is None:
        fill(chats=args.chats, dialogs=args.dialogs, messages=args.messages)
        print(
            f"# filled {args.messages} messages in {args.dialogs} dialogs of {args.chats} "
            f"chats on {connection.vendor} in {time.monotonic() - started:.0f} s",
            flush=True,
        )
    else:
        print("# reusing the bench data already in the database", flush=True)
    owner, _created = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True}
    )
    expected = args.dialogs + args.messages
    print(
        f"# all sessions, with time in dialogs, as staff (every chat); {connection.vendor}, "
        f"DEBUG=0, {os.cpu_count()} cores",
        flush=True,
    )

    job, export_seconds, export_cpu, rss_before, rss_peak = export_job(owner)
    rows = job.rows_done
    if rows != expected:
        raise SystemExit(f"export: wrote {rows} rows, expected {expected}")
    export_rate = rows / export_seconds
    growth_mb = (rss_peak - rss_before) / 1024
    size_mb = job.file.size / 1024 / 1024
    print(
        f"  export (report_job_build): {rows} rows in {export_seconds:.1f} s = "
        f"{export_rate:.0f} rows/s ({export_cpu:.1f} s CPU in this process), "
        f"{size_mb:.1f} MB file; RSS {rss_before / 1024:.0f} MB "
        f"before, {rss_peak / 1024:.0f} MB peak (+{growth_mb:.1f} MB)",
        flush=True,
    )
    job.file.storage.delete(job.file.name)

    materialised = time.perf_counter()
    sheets = builder_rows(owner)
    bare_rows = sum(len(rows) for _title, _headers, rows in sheets)
    print(
        f"  the builder's rows in memory: {bare_rows} in "
        f"{time.perf_counter() - materialised:.1f} s (not timed against)",
        flush=True,
    )
    bare_seconds, bare_cpu = bare_write(sheets, work / "bare.xlsx")
    bare_rate = bare_rows / bare_seconds
    print(
        f"  bare openpyxl write-only (lxml): {bare_rows} rows in {bare_seconds:.1f} s = "
        f"{bare_rate:.0f} rows/s ({bare_cpu:.1f} s CPU), "
        f"{(work / 'bare.xlsx').stat().st_size / 1024 / 1024:.1f} MB",
        flush=True,
    )
    # on a shared machine the wall-clock ratio moves with the neighbours' load; the
    # CPU one much less (it leaves out the database server's own work)
    print(f"  ratio by this process's CPU time: {bare_cpu / export_cpu:.2f}", flush=True)
    limit.cancel()
    print(
        f"export: rows={rows} rows_per_s={export_rate:.0f} "
        f"ratio={export_rate / bare_rate:.2f} rss_growth_mb={growth_mb:.1f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
