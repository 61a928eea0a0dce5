"""Distribution bench: --requests requests over --managers managers of one chat that
distributes automatically, on PostgreSQL, decided by several processes at once.

Self-contained apart from the database: starts the embedded Redis (the Celery broker:
coming online and freeing a slot drain the queue through the real task), migrates the
PostgreSQL database given with --database-url (required; e.g. from
tests/with_postgres.sh) and makes one chat in automatic mode with --managers managers,
each with a cap of 1 to 5 dialogs, about 70 % online, and --requests dialogs.

Then --workers processes each run one in-process Celery worker (the drain task) and a
share of the work: open its dialogs' requests one after the other (handoff.services.
request_open: the offer is decided there), and act as its share of the managers: accept
what is offered to them (9 in 10) or pass (request_reject: offered to the next at once),
close conversations they hold (freeing a slot drains the queue), and go away / offline /
online again now and then (operator_presence_set). At the end everyone comes online and
only accepts, until nothing changes. The main process runs the deadline
sweep every second as beat would (offer timeouts, presence expiry, the drain backstop)
and samples the managers' loads.

A "decision" is one call of handoff.services.assignment.offer_next: choosing the
manager for one waiting request and offering it (or finding nobody free), timed inside
whichever process made it (request_open, a reject, a drain task, the sweep).

The last line printed is always
    distribution: requests=.. decisions_per_s=.. p99_ms=.. over_cap=.. double_owned=..
      unassigned_while_free=..
(one line) where
  over_cap               samples (every 50 ms during the run, and at the end) in which
                         some manager held more accepted requests than their cap,
                         plus managers over their cap at the end;
  double_owned           requests accepted more than once (more than one event to
                         "accepted"), or offered to two managers at once;
  unassigned_while_free  at the end, once the queue is quiet: waiting requests offered
                         to nobody while an online manager serving them has a free slot
                         (the queue must drain by itself; no drain is called for it).
Goal: over_cap=0, double_owned=0, unassigned_while_free=0, p99 decision <= 20 ms.

decisions_per_s is every decision over the whole wall time, which includes the final
settling (everyone online, accepting only) and the sweeps; the "# opening phase" line
before it gives the rate while the processes open their requests (their decisions
over the longest process's opening time), and the load average at the end: the
decision times are wall times, so on a shared machine read them with it.

Usage (from the repository root; with_postgres.sh sets DATABASE_URL):
    tests/with_postgres.sh sh -c \\
        '.venv/bin/python bench/distribution.py --database-url "$DATABASE_URL"'
    options: [--requests 10000] [--managers 1000] [--workers 4] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench.harness import HardLimit, percentile, run_manage  # noqa: E402

CHAT_NAME = "distribution bench"
ACCEPT_SHARE = 0.9
CLOSE_CHANCE = 0.35
PRESENCE_EVERY = 40


def environment(args: argparse.Namespace, redis_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["BATON_DATABASE_NAME"] = ""
    os.environ["REDIS_URL"] = redis_url
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")


def timed_decisions(samples: list[float]) -> None:
    """Time every offer_next call of this process into `samples` (ms)."""
    from handoff.services import assignment

    original = assignment.offer_next

    def offer_next(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            samples.append((time.perf_counter() - started) * 1000)

    assignment.offer_next = offer_next


def seed(args: argparse.Namespace) -> dict:
    """The chat, its managers and its dialogs (bulk: this is setup, not the bench)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from chats.enums import Messenger
    from chats.models import Chat, Client, Dialog
    from distributor.enums import DistributionMode, Presence
    from distributor.models import Operator
    from distributor.services import chat_distribution_for
    from handoff.models import HandoffSettings

    rng = random.Random(11)
    chat = Chat.objects.create(name=CHAT_NAME)
    settings, _created = HandoffSettings.objects.get_or_create(chat=chat)
    # the bench is about offers: nothing may expire into a fallback while it runs
    settings.accept_timeout_seconds = 24 * 3600
    settings.queue_max_wait_seconds = 24 * 3600
    settings.reply_timeout_seconds = 24 * 3600
    settings.operator_idle_seconds = 24 * 3600
    settings.feedback_enabled = False
    settings.save()
    distribution = chat_distribution_for(chat)
    distribution.mode = DistributionMode.AUTOMATIC
    distribution.offer_timeout_seconds = 30
    distribution.save()
    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [user_model(username=f"bench-manager-{index}") for index in range(args.managers)]
    )
    now = timezone.now()
    operators = Operator.objects.bulk_create(
        [
            Operator(
                user=user,
                display_name=f"Manager {index}",
                max_simultaneous_dialogs=rng.randint(1, 5),
                presence=Presence.ONLINE if rng.random() < 0.7 else Presence.OFFLINE,
                presence_changed_at=now,
            )
            for index, user in enumerate(users)
        ]
    )
    Operator.chats.through.objects.bulk_create(
        [Operator.chats.through(operator_id=operator.pk, chat_id=chat.pk) for operator in operators]
    )
    clients = Client.objects.bulk_create(
        [
            Client(chat=chat, messenger=Messenger.WEB, external_id=f"bench-{index}")
            for index in range(args.requests)
        ]
    )
    dialogs = Dialog.objects.bulk_create(
        [Dialog(chat=chat, client=client, messenger=Messenger.WEB) for client in clients]
    )
    return {
        "chat_id": chat.pk,
        "operator_ids": [operator.pk for operator in operators],
        "dialog_ids": [dialog.pk for dialog in dialogs],
    }


def worker(index: int, workers: int, data: dict, redis_url: str, args_dict: dict, out: str):
    """One process: a Celery worker thread for the drain task, and its share of the
    requests and of the managers."""
    args = argparse.Namespace(**args_dict)
    environment(args, redis_url)
    import django

    django.setup()
    import logging

    logging.getLogger("celery").setLevel(logging.WARNING)  # a line per drain task otherwise
    from celery.contrib.testing.worker import start_worker
    from django.db import close_old_connections

    from chats.models import Dialog
    from config.celery import app
    from distributor.enums import Presence
    from distributor.models import Operator
    from distributor.services import operator_presence_set
    from handoff.enums import CloseReason, RequestReason, RequestStatus
    from handoff.models import Request
    from handoff.services import (
        HandoffError,
        request_accept,
        request_close,
        request_open,
        request_reject,
    )

    samples: list[float] = []
    timed_decisions(samples)
    rng = random.Random(100 + index)
    mine = set(data["operator_ids"][index::workers])
    dialogs = data["dialog_ids"][index::workers]
    errors = 0

    def act_as_managers(*, closing: bool = True) -> None:
        nonlocal errors
        offers = list(
            Request.objects.filter(
                offered_to_id__in=mine, status__in=Request.WAITING_STATUSES
            ).select_related("offered_to")[:20]
        )
        for request in offers:
            try:
                if rng.random() < ACCEPT_SHARE:
                    request_accept(request=request, operator=request.offered_to)
                else:
                    request_reject(request=request, operator=request.offered_to)
            except HandoffError:
                pass  # the offer moved on meanwhile: the next look sees where it went
            except Exception:
                errors += 1
        if not closing:
            return
        held = list(
            Request.objects.filter(
                operator_id__in=mine, status=RequestStatus.ACCEPTED
            ).select_related("operator")[:20]
        )
        for request in held:
            if rng.random() < CLOSE_CHANCE:
                try:
                    request_close(
                        request=request, reason=CloseReason.OPERATOR, actor=request.operator
                    )
                except HandoffError:
                    pass
                except Exception:
                    errors += 1

    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        opening_started = time.perf_counter()
        for step, dialog_id in enumerate(dialogs):
            dialog = Dialog.objects.select_related("chat").get(pk=dialog_id)
            try:
                request_open(dialog=dialog, reason=RequestReason.API)
            except Exception:
                errors += 1
            act_as_managers()
            if step % PRESENCE_EVERY == 0:
                operator = Operator.objects.get(pk=rng.choice(sorted(mine)))
                presence = rng.choice(
                    [Presence.ONLINE, Presence.ONLINE, Presence.AWAY, Presence.OFFLINE]
                )
                operator_presence_set(operator=operator, presence=presence)
        opening = {
            "decisions": len(samples),
            "seconds": time.perf_counter() - opening_started,
        }
        # then everyone comes online and takes what they are offered, closing nothing,
        # until nothing changes: every free slot must then be filled by itself
        for operator in Operator.objects.filter(pk__in=mine):
            operator_presence_set(operator=operator, presence=Presence.ONLINE)
        idle_rounds = 0
        while idle_rounds < 5:
            before = Request.objects.filter(
                status=RequestStatus.ACCEPTED, chat_id=data["chat_id"]
            ).count()
            act_as_managers(closing=False)
            after = Request.objects.filter(
                status=RequestStatus.ACCEPTED, chat_id=data["chat_id"]
            ).count()
            idle_rounds = idle_rounds + 1 if before == after else 0
            time.sleep(0.2)
        time.sleep(1.0)  # the drain tasks this process's last closes scheduled
    close_old_connections()
    Path(out).write_text(json.dumps({"samples": samples, "errors": errors, "opening": opening}))


def over_cap_now(chat_id: int) -> int:
    """Managers holding more accepted requests than their cap, now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM distributor_operator o
            WHERE (SELECT count(*) FROM handoff_request r
                   WHERE r.operator_id = o.id AND r.status = 'accepted')
                  > o.max_simultaneous_dialogs
            """
        )
        return cursor.fetchone()[0]


def double_owned(chat_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM (
              SELECT e.request_id FROM handoff_requestevent e
              JOIN handoff_request r ON r.id = e.request_id
              WHERE r.chat_id = %s AND e.to_status = 'accepted' AND e.from_status <> 'accepted'
              GROUP BY e.request_id HAVING count(*) > 1) twice
            """,
            [chat_id],
        )
        twice = cursor.fetchone()[0]
        cursor.execute(
            """
            SELECT count(*) FROM handoff_request
            WHERE chat_id = %s AND status = 'accepted' AND offered_to_id IS NOT NULL
              AND offered_to_id <> operator_id
            """,
            [chat_id],
        )
        return twice + cursor.fetchone()[0]


def unassigned_while_free(chat_id: int) -> int:
    """Waiting requests offered to nobody, at most as many as there are free slots of
    online managers (each such request could have been offered)."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM handoff_request
            WHERE chat_id = %s AND status IN ('pending', 'queued') AND offered_to_id IS NULL
            """,
            [chat_id],
        )
        waiting = cursor.fetchone()[0]
        cursor.execute(
            """
            SELECT coalesce(sum(greatest(o.max_simultaneous_dialogs - (
                SELECT count(*) FROM handoff_request r
                WHERE (r.operator_id = o.id AND r.status = 'accepted')
                   OR (r.offered_to_id = o.id AND r.status IN ('pending', 'queued'))), 0)), 0)
            FROM distributor_operator o
            WHERE o.presence = 'online'
              AND (o.presence_expires_at IS NULL OR o.presence_expires_at > %s)
            """,
            [now],
        )
        free = cursor.fetchone()[0]
    return min(waiting, int(free))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--managers", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="1,000 requests, 100 managers")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.managers = 1_000, 100
    if not args.database_url.startswith("postgres"):
        parser.error("the bench is about concurrency: give a PostgreSQL --database-url")

    from tests.servers import EmbeddedRedis

    limit = HardLimit("distribution", seconds=3600).start()
    redis = EmbeddedRedis().start()
    limit.children.append(redis)
    try:
        return run(args, redis)
    finally:
        redis.stop()
        limit.cancel()


def run(args: argparse.Namespace, redis) -> int:
    environment(args, redis.url)
    run_manage(["migrate", "--noinput"], dict(os.environ), timeout=600)
    import django

    django.setup()
    from django.db import connection

    from handoff.services import deadlines_sweep

    data = seed(args)
    with connection.cursor() as cursor:
        # a live database has planner statistics (autovacuum keeps them): without them
        # the freshly bulk-loaded tables are planned as if empty
        cursor.execute("ANALYZE")
    sweep_samples: list[float] = []
    timed_decisions(sweep_samples)
    over_cap_samples = 0
    stop = threading.Event()

    def sweep_and_sample() -> None:
        nonlocal over_cap_samples
        last_sweep = 0.0
        while not stop.is_set():
            if time.monotonic() - last_sweep >= 1.0:
                deadlines_sweep()
                last_sweep = time.monotonic()
            if over_cap_now(data["chat_id"]):
                over_cap_samples += 1
            stop.wait(0.05)
        connection.close()

    started = time.perf_counter()
    sampler = threading.Thread(target=sweep_and_sample, daemon=True)
    sampler.start()
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as outputs:
        processes = [
            context.Process(
                target=worker,
                args=(
                    index,
                    args.workers,
                    data,
                    redis.url,
                    vars(args),
                    f"{outputs}/{index}.json",
                ),
            )
            for index in range(args.workers)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - started
        stop.set()
        sampler.join()
        results = []
        for index, process in enumerate(processes):
            path = Path(f"{outputs}/{index}.json")
            if process.exitcode != 0 or not path.exists():
                print(f"worker {index} failed (exit code {process.exitcode})", file=sys.stderr)
                return 1
            results.append(json.loads(path.read_text()))
    # one more sweep, as beat would run: the drain backstop, nothing else
    time.sleep(1.0)
    deadlines_sweep()
    samples = sweep_samples + [value for result in results for value in result["samples"]]
    errors = sum(result["errors"] for result in results)
    over_cap = over_cap_samples + over_cap_now(data["chat_id"])
    owned_twice = double_owned(data["chat_id"])
    unassigned = unassigned_while_free(data["chat_id"])
    print(
        f"# {len(samples)} decisions in {elapsed:.1f} s over {args.workers} processes; "
        f"p50 {percentile(samples, 50):.2f} ms, p95 {percentile(samples, 95):.2f} ms, "
        f"max {max(samples, default=0):.1f} ms; unexpected errors {errors}"
    )
    # the opening phase alone (every process opening its requests and acting as its
    # managers; the processes run side by side): its decisions over its longest process
    opening_decisions = sum(result["opening"]["decisions"] for result in results)
    opening_seconds = max(result["opening"]["seconds"] for result in results)
    print(
        f"# opening phase: {opening_decisions} decisions in {opening_seconds:.1f} s "
        f"({opening_decisions / opening_seconds:.0f}/s, sweep decisions not counted); "
        f"load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    print(
        f"distribution: requests={args.requests} "
        f"decisions_per_s={len(samples) / elapsed:.0f} "
        f"p99_ms={percentile(samples, 99):.2f} over_cap={over_cap} "
        f"double_owned={owned_twice} unassigned_while_free={unassigned}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
