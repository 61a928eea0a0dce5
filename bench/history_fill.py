"""A year of chat history for the benchmarks that read it (bench/viewer.py,
bench/export.py), written fast: COPY on PostgreSQL, executemany in one transaction on
SQLite, with ids assigned here so no row is read back.

--chats chats in different time zones (Europe/Rome, Asia/Tokyo, UTC,
America/New_York, Europe/Moscow), 20 operators, one client per dialog, dialogs spread
over 365 days and the 13 messengers (web and Telegram most), about 30 % with a request
for a person (most taken by an operator, a tenth never answered), a fifth with
markers, messages of a few words each from a fixed vocabulary, the rarer words in
fewer messages. Then ANALYZE. The same seed gives the same history."""

from __future__ import annotations

import datetime
import random
import secrets
from collections.abc import Iterable
from decimal import Decimal
from itertools import islice

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
# the word the viewer's text filter looks for: in about 0.2 % of messages
SEARCHED_WORD = "cancellation"
# a year of dialogs up to today (the last day's are still open)
START = datetime.datetime.combine(
    datetime.datetime.now(tz=datetime.UTC).date() - datetime.timedelta(days=365),
    datetime.time.min,
    tzinfo=datetime.UTC,
)
FILL_SEED = 20261201
CHAT_NAME_PREFIX = "Bench chat "
OPERATOR_USERNAME_PREFIX = "bench-operator-"
SQLITE_BATCH_ROWS = 20_000


class _RowWriter:
    """Writes rows (tuples, None for NULL) into a table: COPY on PostgreSQL,
    executemany in batches on SQLite (aware datetimes stored as Django stores them:
    naive UTC text)."""

    def __init__(self, connection) -> None:
        self.vendor = connection.vendor
        self.cursor = connection.cursor().cursor  # the driver's own cursor

    def next_id(self, table: str) -> int:
        if self.vendor == "postgresql":
            self.cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))")
        else:
            self.cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")  # noqa: S608
        return self.cursor.fetchone()[0]

    def write(self, table: str, columns: list[str], rows: Iterable[tuple]) -> int:
        count = 0
        if self.vendor == "postgresql":
            with self.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        statement = (
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - our own tables
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        iterator = (tuple(map(_sqlite_value, row)) for row in rows)
        while batch := list(islice(iterator, SQLITE_BATCH_ROWS)):
            self.cursor.executemany(statement, batch)
            count += len(batch)
        return count

    def finish(self, tables: list[str]) -> None:
        if self.vendor == "postgresql":
            for table in tables:
                last_id = f"SELECT max(id) FROM {table}"  # noqa: S608
                self.cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), ({last_id}))"
                )
        self.cursor.execute("ANALYZE")


def _sqlite_value(value: object) -> object:
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


def fill(*, chats: int, dialogs: int, messages: int) -> dict:
    """Write the history; returns {"chat_ids": [...], "operators": [operator ids]}."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from chats.models import Chat, Client, Dialog, MarkerHit, Message
    from distributor.models import Operator
    from handoff.models import HandoffSettings, Request

    rng = random.Random(FILL_SEED)
    chat_rows = [Chat.objects.create(name=f"{CHAT_NAME_PREFIX}{index}") for index in range(chats)]
    for index, chat in enumerate(chat_rows):
        HandoffSettings.objects.update_or_create(
            chat=chat, defaults={"time_zone": ZONES[index % len(ZONES)]}
        )
    user_model = get_user_model()
    operators = []
    for index in range(20):
        user = user_model.objects.create(username=f"{OPERATOR_USERNAME_PREFIX}{index}")
        operator = Operator.objects.create(user=user, display_name=f"Operator {index}")
        operator.chats.add(*chat_rows)
        operators.append(operator.pk)
    chat_ids = [chat.pk for chat in chat_rows]
    messengers = list(MESSENGER_WEIGHTS)
    weights = list(MESSENGER_WEIGHTS.values())
    per_dialog = messages // dialogs
    extra = messages - per_dialog * dialogs
    now = datetime.datetime.now(tz=datetime.UTC)

    with transaction.atomic():
        writer = _RowWriter(connection)
        first_client = writer.next_id(Client._meta.db_table)
        first_dialog = writer.next_id(Dialog._meta.db_table)
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
        writer.write(
            Client._meta.db_table,
            ["id", "chat_id", "messenger", "external_id", "name", "created_at"],
            (
                (first_client + index, chat_id, messenger, f"bench-{index}", "", started)
                for index, (_pk, chat_id, messenger, started, _count, _kind) in enumerate(plan)
            ),
        )
        writer.write(
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

        writer.write(
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
        writer.write(
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
        writer.write(
            MarkerHit._meta.db_table,
            ["dialog_id", "marker", "created_at"],
            (
                (pk, marker, started)
                for pk, _chat_id, _messenger, started, _count, _kind in plan
                if rng.random() < 0.2
                for marker in rng.sample(MARKERS, rng.randint(1, 2))
            ),
        )
        writer.finish([Client._meta.db_table, Dialog._meta.db_table])
    return {"chat_ids": chat_ids, "operators": operators}


def existing(*, bench: str, dialogs: int, messages: int) -> dict | None:
    """An earlier fill of the same size, or None for an empty database; a database
    holding other dialogs, or a fill of other sizes, stops the bench named `bench`."""
    from chats.models import Chat, Dialog, Message
    from distributor.models import Operator

    bench_chats = Chat.objects.filter(name__startswith=CHAT_NAME_PREFIX)
    if not Dialog.objects.exists():
        return None
    if Dialog.objects.exclude(chat__in=bench_chats).exists():
        raise SystemExit(f"{bench}: the database holds dialogs not made by a bench")
    if Dialog.objects.count() != dialogs or Message.objects.count() != messages:
        raise SystemExit(f"{bench}: the database holds a bench run of other sizes; drop it")
    return {
        "chat_ids": sorted(bench_chats.values_list("pk", flat=True)),
        "operators": sorted(
            Operator.objects.filter(
                user__username__startswith=OPERATOR_USERNAME_PREFIX
            ).values_list("pk", flat=True)
        ),
    }
