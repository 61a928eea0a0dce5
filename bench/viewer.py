"""Dialog viewer bench: the list page (/reports/dialogs/) on PostgreSQL holding
--messages messages across --dialogs dialogs, timed for each filter the page offers,
over several pages. Goal: p95 <= 300 ms per page at 1,000,000 messages.

Fills the PostgreSQL database given with --database-url (required; e.g. from
tests/with_postgres.sh; it must be empty or hold an earlier run of this bench, which
is reused when its sizes match) with bench/history_fill.py's year of history (COPY,
then ANALYZE): --chats chats in five time zones, dialogs over 365 days and the 13
messengers, requests, markers, messages of a few words each.

Each page is requested through Django's test Client as a logged-in staff user (every
chat; an analyst's grant list only narrows the chat filter), in this process, with
DEBUG off: the time is the whole request (middleware, queries, template). Each filter
combination is requested at pages 1, 2, 10 and the last, --repeats times each after
one unmeasured warm-up request per page; p50/p95 are over those requests.

The last line printed is always
    viewer: messages=.. dialogs=.. p95_ms=.. worst=..
where p95_ms is the highest per-combination p95 and worst names that combination.

Usage (from the repository root; with_postgres.sh sets DATABASE_URL):
    tests/with_postgres.sh sh -c \\
        '.venv/bin/python bench/viewer.py --database-url "$DATABASE_URL"'
    options: [--messages 1000000] [--dialogs 50000] [--repeats 5] [--quick] [--explain]
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench.harness import HardLimit, percentile, run_manage  # noqa: E402
from bench.history_fill import SEARCHED_WORD, START, existing, fill  # noqa: E402

PAGES = ["1", "2", "10", "last"]


def combinations(data: dict) -> dict[str, str]:
    """Filter name -> the list page's query string."""
    chat = data["chat_ids"][0]

    def day(offset: int) -> str:
        return (START.date() + datetime.timedelta(days=offset)).isoformat()

    return {
        "none": "",
        "chat": f"chat={chat}",
        "messenger": "messenger=viber",
        "messengers": "messenger=web&messenger=telegram",
        "status_active": "status=active",
        "status_closed": "status=closed",
        "status_no_operator_response": "status=no_operator_response",
        "date_range": f"date_from={day(60)}&date_to={day(90)}",
        "marker": "marker=refund",
        "operator": f"operator={data['operators'][0]}",
        "text": f"text={SEARCHED_WORD}",
        "text_common": "text=delivery",
        "chat_messenger_status_dates": (
            f"chat={chat}&messenger=web&status=closed&date_from={day(150)}&date_to={day(240)}"
        ),
    }


def explain(client, query: str, page: str = "1") -> str:
    """PostgreSQL's plans (EXPLAIN ANALYZE) of the queries the list page runs for
    this query string and page, as the page ran them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get("/reports/dialogs/?" + (f"{query}&" if query else "") + f"page={page}")
    out = io.StringIO()
    for item in captured.captured_queries:
        sql = item["sql"]
        if not sql.startswith("SELECT") or "django_session" in sql or "auth_user" in sql:
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            out.write(f"--- {query or '(no filter)'} page {page}: {sql[:300]}\n")
            out.write("\n".join(row[0] for row in cursor.fetchall()) + "\n")
    return out.getvalue()


def time_pages(client, query: str, repeats: int) -> tuple[list[float], int]:
    """Request each of PAGES `repeats` times (after one warm-up); return the times in
    ms and the total the page showed."""
    import re

    first = client.get("/reports/dialogs/?" + query)
    if first.status_code != 200:
        raise SystemExit(f"viewer: {query!r} answered {first.status_code}")
    content = first.content.decode()
    # a text search counts at most 10,000 dialogs: "more than 10,000 dialogs"
    found = re.search(r'id="dialog-total">(?:more than )?([\d,]+)', content)
    total = int(found.group(1).replace(",", ""))
    last = max(1, -(-total // 50))
    times = []
    for page in PAGES:
        number = str(last) if page == "last" else page
        path = "/reports/dialogs/?" + (f"{query}&" if query else "") + f"page={number}"
        client.get(path)  # warm-up
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"viewer: {path} answered {response.status_code}")
    return times, total


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--dialogs", type=int, default=50_000)
    parser.add_argument("--chats", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="timed requests per page")
    parser.add_argument("--timeout", type=float, default=3600.0, help="overall limit (s)")
    parser.add_argument("--quick", action="store_true", help="20,000 messages, 1,000 dialogs")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.dialogs, args.repeats = 20_000, 1_000, 2
    if args.dialogs < 1 or args.messages < args.dialogs or args.chats < 1:
        parser.error("need at least one chat and one dialog, and a message per dialog")
    if not args.database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        parser.error("--database-url must point at PostgreSQL (postgres://...)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = HardLimit("viewer", args.timeout).start()
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["BATON_DATABASE_NAME"] = ""  # a test-suite override must not leak in
    os.environ["DEBUG"] = "0"  # DEBUG would keep every query in memory and slow pages
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    run_manage(["migrate", "--noinput"], dict(os.environ), timeout=600)

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP

    started = time.monotonic()
    data = existing(bench="viewer", dialogs=args.dialogs, messages=args.messages)
    if data is None:
        data = fill(chats=args.chats, dialogs=args.dialogs, messages=args.messages)
        print(
            f"# filled {args.messages} messages in {args.dialogs} dialogs of {args.chats} "
            f"chats in {time.monotonic() - started:.0f} s (COPY, then ANALYZE)",
            flush=True,
        )
    else:
        print("# reusing the bench data already in the database", flush=True)
    staff, _created = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True}
    )
    client = Client()
    client.force_login(staff)
    print(
        f"# list page /reports/dialogs/ as staff, pages {', '.join(PAGES)}, "
        f"{args.repeats} timed requests each after a warm-up; PostgreSQL, DEBUG=0, "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    print(f"# {'combination':<30} {'dialogs':>8} {'p50_ms':>8} {'p95_ms':>8}", flush=True)
    results = {}
    for name, query in combinations(data).items():
        times, total = time_pages(client, query, args.repeats)
        results[name] = percentile(times, 95)
        print(
            f"  {name:<30} {total:>8} {percentile(times, 50):>8.1f} {results[name]:>8.1f}",
            flush=True,
        )
        if args.explain:
            print(explain(client, query, "last"), flush=True)
    worst = max(results, key=results.get)
    limit.cancel()
    print(
        f"viewer: messages={args.messages} dialogs={args.dialogs} "
        f"p95_ms={results[worst]:.1f} worst={worst}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
