"""Accept storm: R pending requests and O operators who all try to accept every one of
them at once, through real Daphne processes and a real PostgreSQL database. The first
accept must win and every other operator must be told, quickly, that they lost.

Self-contained apart from the database: starts the embedded Redis and Daphne
(tests/servers.py) on free loopback ports, migrates the PostgreSQL database given with
--database-url (required; e.g. from tests/with_postgres.sh) and loads the demo chat.
Then, in this process: O operator accounts serving the demo chat, each logged in
through a session made here, and R dialogs of the demo chat with a pending request
each (chats.services.dialog_start_or_resume, handoff.services.request_open). Each
operator opens one console websocket (/ws/console/), spread over --processes Daphne
processes, and once all are connected every operator sends {"type":"accept"} for every
request, interleaved request by request so all O race for each one.

The last line printed is always
    accept_storm: requests=.. owners=.. double_owned=.. loser_notice_p99_ms=..
where
  owners          requests with exactly one owner in the database: accepted, an operator
                  set, and exactly one RequestEvent to "accepted" (by that operator);
  double_owned    requests with more than one RequestEvent to "accepted";
  loser_notice_p99_ms  over every (losing operator, request): time from sending the
                  accept to the first of the error frame "already_taken" for it or a
                  "request_changed" frame showing it accepted by someone else (0 when
                  that frame came before the accept was even sent).
The "# queue:" line before it compares the losers' notices of the first and the last
tenth of the requests (in the order the accepts were sent) and gives the time the
storm took per request: notices that grow along that order mean the requests were
decided one after the other.

Usage (from the repository root; with_postgres.sh sets DATABASE_URL):
    tests/with_postgres.sh sh -c \
        '.venv/bin/python bench/accept_storm.py --database-url "$DATABASE_URL"'
    options: [--requests 500] [--operators 20] [--processes 2] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from bench.harness import (  # noqa: E402
    HardLimit,
    cpu_seconds,
    fast_password_hashing,
    log_summary,
    operator_session_key,
    percentile,
    run_manage,
)
from tests.servers import DaphneServer, EmbeddedRedis  # noqa: E402

PUBLIC_KEY = "demo"


class Operator:
    """One operator's console websocket."""

    def __init__(self, index: int, *, url: str, origin: str, session_key: str, operator_id: int):
        self.index = index
        self.url = url
        self.origin = origin
        self.session_key = session_key
        self.operator_id = operator_id
        self.ws: ClientConnection | None = None
        self.receiver: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.closing = False
        self.closed_early: object = None
        self.sent_at: dict[int, float] = {}
        self.error_at: dict[int, float] = {}  # request -> first already_taken
        self.other_errors: Counter = Counter()
        self.changed_at: dict[int, float] = {}  # request -> first "accepted by someone else"
        self.won_at: dict[int, float] = {}  # request -> "accepted by me"
        self.expected: set[int] = set()
        self.settled = asyncio.Event()

    async def connect(self, timeout: float) -> bool:
        try:
            self.ws = await connect(
                self.url,
                additional_headers={
                    "Origin": self.origin,
                    "Cookie": f"sessionid={self.session_key}",
                },
                max_size=1 << 24,
                open_timeout=timeout,
                ping_interval=None,
                close_timeout=5,
            )
            self.receiver = asyncio.create_task(self.receive_loop())
            await asyncio.wait_for(self.ready.wait(), timeout)
        except Exception as error:  # OSError, TimeoutError, InvalidStatus...: it failed
            self.closed_early = f"connect failed: {type(error).__name__}"
            return False
        return True

    async def receive_loop(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                self.on_frame(json.loads(raw), time.monotonic())
        except ConnectionClosed:
            pass
        finally:
            if not self.closing:
                self.closed_early = self.ws.close_code or "no close frame"
            self.settled.set()

    def on_frame(self, frame: dict, now: float) -> None:
        kind = frame.get("type")
        if kind == "requests":
            if frame.get("me") != self.operator_id:
                self.other_errors["snapshot for someone else"] += 1
            self.ready.set()
        elif kind == "error":
            request_id = frame.get("request")
            if frame.get("code") == "already_taken" and request_id is not None:
                self.error_at.setdefault(request_id, now)
            else:
                self.other_errors[frame.get("code", "?")] += 1
            self.check_settled()
        elif kind == "request_changed":
            request = frame["request"]
            if request["status"] != "accepted" or request.get("operator_id") is None:
                return
            if request["operator_id"] == self.operator_id:
                self.won_at.setdefault(request["id"], now)
            else:
                self.changed_at.setdefault(request["id"], now)
            self.check_settled()

    def resolved(self, request_id: int) -> bool:
        return (
            request_id in self.won_at
            or request_id in self.error_at
            or request_id in self.changed_at
        )

    def check_settled(self) -> None:
        if self.expected and all(self.resolved(r) for r in self.expected):
            self.settled.set()

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):  # closing at the end; nothing to do about it
                await self.ws.close()
        if self.receiver is not None:
            try:
                await asyncio.wait_for(self.receiver, 10)
            except (TimeoutError, asyncio.CancelledError):
                self.receiver.cancel()


def setup_storm(requests: int, operators: int, tag: str) -> tuple[list[int], list[dict]]:
    """Operators (with sessions) and dialogs with a pending request each."""
    from django.db import connections

    from chats.enums import Messenger
    from chats.models import Chat
    from chats.services import dialog_start_or_resume
    from distributor.models import Operator as OperatorProfile  # not this file's Operator
    from distributor.services import operator_create
    from handoff import services

    chat = Chat.objects.get(public_key=PUBLIC_KEY)
    people = []
    for number in range(operators):
        operator = operator_create(
            username=f"storm-{tag}-{number}",
            password=secrets.token_urlsafe(12),
            display_name=f"Operator {number}",
            chats=[chat],
        )
        # the storm measures the race, not the cap: any operator may win every request
        OperatorProfile.objects.filter(pk=operator.pk).update(max_simultaneous_dialogs=requests)
        people.append({"operator": operator.pk, "session": operator_session_key(operator.user)})
    request_ids = []
    for number in range(requests):
        dialog, _created = dialog_start_or_resume(
            chat=chat, messenger=Messenger.WEB, external_id=f"storm-{tag}-{number}"
        )
        request = services.request_open(dialog=dialog, reason="headset")
        if request is None:
            raise SystemExit("accept_storm: the demo chat did not open a request (working hours?)")
        request_ids.append(request.pk)
    connections.close_all()
    return request_ids, people


def database_check(request_ids: list[int]) -> dict:
    from django.db import connections
    from django.db.models import Count

    from handoff.models import Request, RequestEvent

    events = {
        row["request_id"]: row
        for row in RequestEvent.objects.filter(request_id__in=request_ids, to_status="accepted")
        .values("request_id")
        .annotate(count=Count("id"), actors=Count("actor", distinct=True))
    }
    owners: dict[int, int] = {}
    exactly_one = 0
    statuses = Counter()
    rows = Request.objects.filter(pk__in=request_ids).select_related("operator")
    for request in rows:
        statuses[request.status] += 1
        event = events.get(request.pk)
        if request.operator_id is not None:
            owners[request.pk] = request.operator_id
        if (
            request.status == "accepted"
            and request.operator_id is not None
            and event is not None
            and event["count"] == 1
        ):
            exactly_one += 1
    double = sum(1 for event in events.values() if event["count"] > 1)
    # the one accepted event was written by the owner
    wrong_actor = RequestEvent.objects.filter(request_id__in=request_ids, to_status="accepted")
    wrong_actor = sum(
        1
        for request_id, actor_id, operator_user_id in wrong_actor.values_list(
            "request_id", "actor_id", "request__operator__user_id"
        )
        if actor_id != operator_user_id
    )
    connections.close_all()
    return {
        "owners": owners,
        "exactly_one": exactly_one,
        "double": double,
        "statuses": dict(statuses),
        "wrong_actor": wrong_actor,
    }


async def storm(args, servers: list[DaphneServer], outcome: dict) -> None:
    from asgiref.sync import sync_to_async

    tag = secrets.token_hex(4)
    started = time.monotonic()
    request_ids, people = await sync_to_async(setup_storm)(args.requests, args.operators, tag)
    outcome["request_ids"] = request_ids
    outcome["setup_seconds"] = time.monotonic() - started
    operators = []
    for index, person in enumerate(people):
        server = servers[index % len(servers)]
        operators.append(
            Operator(
                index,
                url=f"{server.ws_url}/ws/console/",
                origin=f"http://127.0.0.1:{server.port}",
                session_key=person["session"],
                operator_id=person["operator"],
            )
        )
    outcome["operators"] = operators
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(op.connect(args.deadline) for op in operators))
        outcome["connected"] = sum(results)
        outcome["connect_seconds"] = time.monotonic() - started
        live = [op for op, ok in zip(operators, results, strict=True) if ok]
        await asyncio.sleep(0.5)
        pids = [server.process.pid for server in servers]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        for op in live:
            op.expected = set(request_ids)
        outcome["storm_started"] = time.monotonic()
        for request_id in request_ids:
            frame = json.dumps({"type": "accept", "request": request_id})
            for op in live:
                op.sent_at[request_id] = time.monotonic()
                try:
                    await op.ws.send(frame)
                except ConnectionClosed:
                    del op.sent_at[request_id]
        outcome["sent_seconds"] = time.monotonic() - outcome["storm_started"]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(op.settled.wait() for op in live)), args.deadline
            )
        outcome["settled_seconds"] = time.monotonic() - outcome["storm_started"]
        outcome["server_cpu"] = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    finally:
        await asyncio.gather(*(op.close() for op in operators))
    outcome["database"] = await sync_to_async(database_check)(request_ids)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2, help="Daphne processes")
    parser.add_argument("--channel-layer", choices=["pubsub", "core"], default="pubsub")
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database")
    parser.add_argument(
        "--deadline",
        type=float,
        default=120.0,
        help="seconds to wait for a connect, and for every operator to hear every outcome",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="overall time limit (s)")
    parser.add_argument("--keep", action="store_true", help="keep the Daphne logs")
    parser.add_argument("--quick", action="store_true", help="20 requests x 5 operators")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.operators = 20, 5
        args.timeout, args.deadline = min(args.timeout, 240.0), min(args.deadline, 30.0)
    if min(args.requests, args.operators, args.processes) < 1:
        parser.error("--requests, --operators and --processes must be positive")
    if not args.database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        parser.error("--database-url must point at PostgreSQL (postgres://...)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    limit = HardLimit("accept_storm", args.timeout + 60).start()
    redis = EmbeddedRedis()
    redis.start()
    limit.children.append(redis)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["BATON_DATABASE_NAME"] = ""  # a test-suite override must not leak in
    os.environ["BATON_CHANNEL_LAYER"] = args.channel_layer
    os.environ["REDIS_URL"] = redis.url  # this process publishes the setup's events
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")  # DEBUG off requires one
    servers: list[DaphneServer] = []
    outcome: dict = {}
    timed_out = False
    try:
        run_manage(["migrate", "--noinput"], dict(os.environ), timeout=180)
        run_manage(["load_demo"], dict(os.environ), timeout=60)

        import django

        django.setup()
        fast_password_hashing()
        env = {
            "DATABASE_URL": args.database_url,
            "BATON_DATABASE_NAME": "",
            "BATON_CHANNEL_LAYER": args.channel_layer,
            "DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        for _ in range(args.processes):
            server = DaphneServer(redis_url=redis.url, extra_env=env)
            limit.children.append(server)
            servers.append(server.start())
        print(
            f"# accept_storm: {args.requests} pending requests, {args.operators} operators "
            f"(one console websocket each, spread over {args.processes} Daphne process(es), "
            f"pids {' '.join(str(s.process.pid) for s in servers)}), every operator accepts "
            f"every request, interleaved request by request; database PostgreSQL "
            f"(--database-url), channel layer {args.channel_layer}, DEBUG=0, embedded Redis; "
            f"client and servers share {os.cpu_count()} cores",
            flush=True,
        )
        remaining = args.timeout - (time.monotonic() - started) - 15
        try:
            asyncio.run(asyncio.wait_for(storm(args, servers, outcome), max(remaining, 1.0)))
        except TimeoutError:
            timed_out = True
    finally:
        for server in servers:
            server.stop()
        redis.stop()
        for server in servers:
            print(f"# daphne :{server.port} log: {log_summary(server.output())}")
            if args.keep:
                print(f"# daphne :{server.port} log kept at {server.log.name}")
            else:
                Path(server.log.name).unlink(missing_ok=True)
        shutil.rmtree(redis.directory, ignore_errors=True)

    request_ids: list[int] = outcome.get("request_ids", [])
    operators: list[Operator] = outcome.get("operators", [])
    db = outcome.get("database") or {
        "owners": {},
        "exactly_one": 0,
        "double": 0,
        "statuses": {},
        "wrong_actor": 0,
    }
    owners: dict[int, int] = db["owners"]
    notice_ms: list[float] = []
    notice_ms_of: dict[int, list[float]] = {}  # request -> its losers' notices
    unnoticed = 0
    winner_told = 0
    winner_refused = 0
    errors = Counter()
    for op in operators:
        errors.update(op.other_errors)
        for request_id, sent_at in op.sent_at.items():
            if owners.get(request_id) == op.operator_id:
                winner_told += request_id in op.won_at
                winner_refused += request_id in op.error_at
                continue
            times = [t for t in (op.error_at.get(request_id), op.changed_at.get(request_id)) if t]
            if times:
                notice_ms.append(max(0.0, min(times) - sent_at) * 1000)
                notice_ms_of.setdefault(request_id, []).append(notice_ms[-1])
            else:
                unnoticed += 1
    via_error = sum(
        1
        for op in operators
        for request_id in op.sent_at
        if owners.get(request_id) != op.operator_id
        and request_id in op.error_at
        and (
            request_id not in op.changed_at or op.error_at[request_id] <= op.changed_at[request_id]
        )
    )
    closed = Counter(str(op.closed_early) for op in operators if op.closed_early is not None)
    print(
        f"# setup: {len(request_ids)} dialogs with a pending request and {len(operators)} "
        f"operators in {outcome.get('setup_seconds', math.nan):.1f} s; "
        f"{outcome.get('connected', 0)}/{len(operators)} consoles connected in "
        f"{outcome.get('connect_seconds', math.nan):.1f} s"
    )
    print(
        f"# storm: {sum(len(op.sent_at) for op in operators)} accepts sent in "
        f"{outcome.get('sent_seconds', math.nan) * 1000:.0f} ms; every outcome heard after "
        f"{outcome.get('settled_seconds', math.nan):.2f} s; Daphne CPU "
        f"{outcome.get('server_cpu', math.nan):.1f} s" + (" -- TIMED OUT" if timed_out else "")
    )
    print(
        f"# database: statuses {db['statuses']}; {len(owners)} requests with an operator, "
        f"{db['exactly_one']} with exactly one owner, {db['double']} with more than one "
        f"'accepted' event, {db['wrong_actor']} accepted events by someone other than the owner"
    )
    print(
        f"# losers: {len(notice_ms)} notices (p50 {percentile(notice_ms, 50):.1f} ms, "
        f"p99 {percentile(notice_ms, 99):.1f} ms, max {max(notice_ms, default=math.nan):.1f} ms; "
        f"{via_error} first by the already_taken error, the rest by request_changed), "
        f"{unnoticed} losers never told; winners: {winner_told} saw their own "
        f"request_changed, {winner_refused} were also refused; other errors "
        f"{dict(errors) or 'none'}; consoles closed early {dict(closed) or 'none'}"
    )
    # the accepts were sent request by request: how the notices grow along that order
    # shows whether the requests were decided one after the other (a queue)
    tenth = max(1, len(request_ids) // 10)
    first = [ms for r in request_ids[:tenth] for ms in notice_ms_of.get(r, [])]
    last = [ms for r in request_ids[-tenth:] for ms in notice_ms_of.get(r, [])]
    settled_seconds = outcome.get("settled_seconds", math.nan)
    print(
        f"# queue: losers of the first {tenth} requests in sending order told at p50 "
        f"{percentile(first, 50):.1f} ms, of the last {tenth} at p50 "
        f"{percentile(last, 50):.1f} ms; {len(request_ids)} requests decided in "
        f"{settled_seconds:.2f} s ({settled_seconds * 1000 / max(1, len(request_ids)):.1f} ms "
        "a request)"
    )
    print(
        f"accept_storm: requests={len(request_ids) or args.requests} owners={db['exactly_one']} "
        f"double_owned={db['double']} loser_notice_p99_ms={percentile(notice_ms, 99):.1f}",
        flush=True,
    )
    limit.cancel()
    clean = (
        not timed_out
        and request_ids
        and db["exactly_one"] == len(request_ids)
        and db["double"] == 0
        and unnoticed == 0
        and not closed
    )
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
