"""Console search bench: the `search` frame's read (handoff.selectors.requests_search)
for an operator serving every chat, on PostgreSQL holding --messages messages across
--dialogs dialogs (bench/history_fill.py's year of history, as bench/viewer.py fills it:
the same database may serve both benches).

Each query is run --repeats times after one unmeasured warm-up; p50/p95 are over those
runs. The queries: a rare word of the history (bench/history_fill.SEARCHED_WORD), a
common one, a phone-like number (digits: the customer's phone by digits too), a name
that matches nothing, and a two-letter query (the shortest the frame allows).

The last line printed is always
    console_search: messages=.. dialogs=.. p95_ms=.. worst=..

Usage (from the repository root; with_postgres.sh sets DATABASE_URL):
    tests/with_postgres.sh sh -c \\
        '.venv/bin/python bench/console_search.py --database-url "$DATABASE_URL"'
    options: [--messages 1000000] [--dialogs 50000] [--repeats 5] [--quick] [--explain]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench.harness import HardLimit, percentile, run_manage  # noqa: E402
from bench.history_fill import SEARCHED_WORD, existing, fill  # noqa: E402

QUERIES = {
    "rare_word": SEARCHED_WORD,
    "common_word": "delivery",
    "phone_digits": "+39 333 12",
    "no_match": "Zebedee Quarterfield",
    "two_letters": "zq",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--dialogs", type=int, default=50_000)
    parser.add_argument("--chats", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=3600.0, help="overall limit (s)")
    parser.add_argument("--quick", action="store_true", help="20,000 messages, 1,000 dialogs")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.dialogs, args.repeats = 20_000, 1_000, 2
    if not args.database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        parser.error("--database-url must point at PostgreSQL (postgres://...)")
    return args


def explain(operator, query: str) -> str:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from handoff.selectors import requests_search

    with CaptureQueriesContext(connection) as captured:
        requests_search(operator=operator, query=query)
    plans = []
    for item in captured.captured_queries:
        if not item["sql"].startswith("SELECT"):
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {item['sql']}")
            plans.append(f"--- {query}: {item['sql'][:200]}")
            plans.extend(row[0] for row in cursor.fetchall())
    return "\n".join(plans)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = HardLimit("console_search", args.timeout).start()
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["BATON_DATABASE_NAME"] = ""
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    run_manage(["migrate", "--noinput"], dict(os.environ), timeout=600)

    import django

    django.setup()
    from distributor.models import Operator
    from handoff.selectors import requests_search

    data = existing(bench="console_search", dialogs=args.dialogs, messages=args.messages)
    if data is None:
        started = time.monotonic()
        data = fill(chats=args.chats, dialogs=args.dialogs, messages=args.messages)
        print(f"# filled in {time.monotonic() - started:.0f} s", flush=True)
    operator = Operator.objects.get(pk=data["operators"][0])
    print(
        f"# requests_search as an operator of all {args.chats} chats, {args.repeats} runs "
        f"each after a warm-up; PostgreSQL, {os.cpu_count()} cores",
        flush=True,
    )
    print(f"# {'query':<14} {'found':>6} {'p50_ms':>8} {'p95_ms':>8}", flush=True)
    results = {}
    for name, query in QUERIES.items():
        found = len(requests_search(operator=operator, query=query))  # warm-up
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            requests_search(operator=operator, query=query)
            times.append((time.perf_counter() - started) * 1000)
        results[name] = percentile(times, 95)
        print(
            f"  {name:<14} {found:>6} {percentile(times, 50):>8.1f} {results[name]:>8.1f}",
            flush=True,
        )
        if args.explain:
            print(explain(operator, query), flush=True)
    worst = max(results, key=results.get)
    limit.cancel()
    print(
        f"console_search: messages={args.messages} dialogs={args.dialogs} "
        f"p95_ms={results[worst]:.1f} worst={worst}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
