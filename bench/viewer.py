"""Dialog viewer bench: the list page (/reports/dialogs/) on PostgreSQL holding
--messages messages across --dialogs dialogs, timed for each filter the page offers,
over several pages. Goal: p95 <= 300 ms per page at 1,000,000 messages.

Fills the PostgreSQL database given with --database-url (required; e.g. from
tests/with_postgres.sh; it must be empty or hold an earlier run of this bench, which
is reused when its sizes match) through COPY: --chats chats in different time zones
(Europe/Rome, Asia/Tokyo, UTC, America/New_York, Europe/Moscow), 20 operators, one
client per dialog, dialogs spread over 365 days and the 13 messengers (web and
Telegram most), about 30 % with a request for a person (most taken by an operator, a
tenth never answered), a fifth with markers, messages of a few words each from a
fixed vocabulary, the rarer words in fewer messages. Then ANALYZE.

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
import random
import secrets
import sys
import time
from decimal import Decimal
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench.harness import HardLimit, percentile, run_manage  # noqa: E402

ZONES = ["Europe/Rome", "Asia/Tokyo", "UTC", "America/New_York", "Europe/Moscow"]
# web and Telegram carry most dialogs, the other channels a little each
MESSENGER_WEIGHTS = {
    "web": 40,
    "telegram": 25,
    "whatsapp": 10,
    "viber": 5,
    "facebook": 4,
    "alice": 2,
    "yandex": 2,
    "vk": 4,
    "skype": 1,
    "slack": 2,
    "wechat": 2,
    "snapchat": 1,
    "line": 2,
}
MARKERS = ["lead", "pricing", "delivery", "refund", "complaint", "vip", "faq", "order"]
COMMON_WORDS = [
    *("hello", "please", "order", "delivery", "price", "thanks", "when", "where", "how"),
    *("much", "can", "you", "help", "me", "the", "a", "is", "my", "it", "to", "for"),
    *("with", "not", "yet", "today", "tomorrow", "time", "payment", "card"),
]
RARE_WORDS = ["warranty", "invoice", "refund", "cancellation", "discount"]
# the word the text filter looks for: in about 0.2 % of messages
SEARCHED_WORD = "cancellation"
PAGES = ["1", "2", "10", "last"]
# a year of dialogs up to today (the last day's are still open)
START = datetime.datetime.combine(
    datetime.datetime.now(tz=datetime.UTC).date() - datetime.timedelta(days=365),
    datetime.time.min,
    tzinfo=datetime.UTC,
)
FILL_SEED = 20261201


def copy_rows(cursor, table: str, columns: list[str], rows) -> int:
    """COPY rows (tuples, None for NULL) into a table, in one statement."""
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def fill(*, chats: int, dialogs: int, messages: int) -> dict:
    """The bench's data; returns what the combinations filter by."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from chats.models import Chat, Client, Dialog, MarkerHit, Message
    from distributor.models import Operator
    from handoff.models import HandoffSettings, Request

    rng = random.Random(FILL_SEED)
    chat_rows = [Chat.objects.create(name=f"Bench chat {index}") for index in range(chats)]
    for index, chat in enumerate(chat_rows):
        HandoffSettings.objects.update_or_create(
            chat=chat, defaults={"time_zone": ZONES[index % len(ZONES)]}
        )
    user_model = get_user_model()
    operators = []
    for index in range(20):
        user = user_model.objects.create(username=f"bench-operator-{index}")
        operator = Operator.objects.create(user=user, display_name=f"Operator {index}")
        operator.chats.add(*chat_rows)
        operators.append(operator.pk)
    chat_ids = [chat.pk for chat in chat_rows]
    messengers = list(MESSENGER_WEIGHTS)
    weights = list(MESSENGER_WEIGHTS.values())
    per_dialog = messages // dialogs
    extra = messages - per_dialog * dialogs
    now = datetime.datetime.now(tz=datetime.UTC)

    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own cursor, for COPY
        cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{Client._meta.db_table}', 'id'))")
        first_client = cursor.fetchone()[0]
        cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{Dialog._meta.db_table}', 'id'))")
        first_dialog = cursor.fetchone()[0]
        plan = []  # (dialog id, chat id, messenger, started, message count, request kind)
        for index in range(dialogs):
            started = START + datetime.timedelta(seconds=rng.randrange(365 * 86400))
            count = per_dialog + (1 if index < extra else 0)
            roll = rng.random()
            # 30 % asked for a person: 90 % of those answered by an operator
            kind = "none" if roll >= 0.3 else ("unanswered" if roll < 0.03 else "answered")
            plan.append(
                (
                    first_dialog + index,
                    chat_ids[index % len(chat_ids)],
                    rng.choices(messengers, weights)[0],
                    started,
                    count,
                    kind,
                )
            )
        copy_rows(
            cursor,
            Client._meta.db_table,
            ["id", "chat_id", "messenger", "external_id", "name", "created_at"],
            (
                (first_client + index, chat_id, messenger, f"bench-{index}", "", started)
                for index, (_pk, chat_id, messenger, started, _count, _kind) in enumerate(plan)
            ),
        )
        copy_rows(
            cursor,
            Dialog._meta.db_table,
            [
                "id",
                "chat_id",
                "client_id",
                "messenger",
                "session_id",
                "status",
                "started_at",
                "closed_at",
                "last_message_at",
                "cost",
                "last_sequence",
                "client_message_count",
                "fallback_count",
                "headset_revealed",
            ],
            (
                (
                    pk,
                    chat_id,
                    first_client + index,
                    messenger,
                    secrets.token_hex(16),
                    # the last day's dialogs are still open
                    "closed" if now - started > datetime.timedelta(days=1) else "bot",
                    started,
                    started + datetime.timedelta(minutes=30),
                    started + datetime.timedelta(seconds=30 * count),
                    Decimal(count) * Decimal("0.0100"),
                    count,
                    (count + 1) // 2,
                    0,
                    False,
                )
                for index, (pk, chat_id, messenger, started, count, _kind) in enumerate(plan)
            ),
        )

        def message_rows():
            for pk, _chat_id, _messenger, started, count, kind in plan:
                for sequence in range(1, count + 1):
                    if sequence % 2:
                        author = "client"
                    elif kind == "answered" and sequence > 4:
                        author = "operator"
                    else:
                        author = "bot"
                    words = rng.choices(COMMON_WORDS, k=rng.randint(3, 12))
                    if rng.random() < 0.01:
                        words.insert(rng.randrange(len(words)), rng.choice(RARE_WORDS))
                    yield (
                        pk,
                        sequence,
                        author,
                        "Operator 0" if author == "operator" else "",
                        " ".join(words).capitalize(),
                        "[]",
                        "[]",
                        started + datetime.timedelta(seconds=30 * sequence),
                        "",
                        None,
                    )

        copy_rows(
            cursor,
            Message._meta.db_table,
            [
                "dialog_id",
                "sequence",
                "author_kind",
                "author_name",
                "text",
                "buttons",
                "attachments",
                "created_at",
                "channel_message_id",
                "client_msg_id",
            ],
            message_rows(),
        )
        copy_rows(
            cursor,
            Request._meta.db_table,
            [
                "dialog_id",
                "chat_id",
                "status",
                "reason",
                "operator_id",
                "form_answers",
                "created_at",
                "accepted_at",
                "closed_at",
                "close_reason",
                "feedback_asked",
            ],
            (
                (
                    pk,
                    chat_id,
                    "closed",
                    "headset",
                    rng.choice(operators) if kind == "answered" else None,
                    "[]",
                    started + datetime.timedelta(seconds=60),
                    started + datetime.timedelta(seconds=90) if kind == "answered" else None,
                    started + datetime.timedelta(minutes=20),
                    "operator" if kind == "answered" else "unavailable",
                    False,
                )
                for pk, chat_id, _messenger, started, _count, kind in plan
                if kind != "none"
            ),
        )
        copy_rows(
            cursor,
            MarkerHit._meta.db_table,
            ["dialog_id", "marker", "created_at"],
            (
                (pk, marker, started)
                for pk, _chat_id, _messenger, started, _count, _kind in plan
                if rng.random() < 0.2
                for marker in rng.sample(MARKERS, rng.randint(1, 2))
            ),
        )
        for model in (Client, Dialog):
            table = model._meta.db_table  # our own table names, not input
            last_id = f"SELECT max(id) FROM {table}"  # noqa: S608
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), ({last_id}))")
        cursor.execute("ANALYZE")
    return {"chat_ids": chat_ids, "operators": operators}


def existing(*, dialogs: int, messages: int) -> dict | None:
    """An earlier run's data of the same size, or None (refusing a foreign database)."""
    from chats.models import Chat, Dialog, Message
    from distributor.models import Operator

    bench_chats = Chat.objects.filter(name__startswith="Bench chat ")
    if not Dialog.objects.exists():
        return None
    if Dialog.objects.exclude(chat__in=bench_chats).exists():
        raise SystemExit("viewer: the database holds dialogs not made by this bench")
    if Dialog.objects.count() != dialogs or Message.objects.count() != messages:
        raise SystemExit("viewer: the database holds a bench run of other sizes; drop it")
    return {
        "chat_ids": sorted(bench_chats.values_list("pk", flat=True)),
        "operators": sorted(
            Operator.objects.filter(user__username__startswith="bench-operator-").values_list(
                "pk", flat=True
            )
        ),
    }


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
    data = existing(dialogs=args.dialogs, messages=args.messages)
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
