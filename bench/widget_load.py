"""Widget load benchmark: N web-widget visitors, each sending M messages to the bot
through real Daphne (--processes of them on one port, as `make run` runs them with
WEB_CONCURRENCY) and a real Redis.

Self-contained: starts the embedded Redis and Daphne (tests/servers.py) on free
loopback ports, migrates a fresh SQLite database in a temporary directory (or the
database given with --database-url), loads the demo chat and talks to it
(public key "demo") over the widget websocket protocol (handoff/widget_consumer.py).

Pacing: the server keeps its default per-socket rate limit (burst 20, 5 frames/s).
Each visitor sends at most one message per --interval seconds and, by default,
waits for the bot's reply before the next one (closed loop; --open-loop sends on
schedule regardless). All visitors are connected, in batches, before sending starts.

The last line printed is always
    widget_load: visitors=.. msgs_per_s=.. p50_ms=.. p99_ms=.. lost=.. duplicated=..
    rss_per_conn_kb=..
(on one line), where
  msgs_per_s  client messages acknowledged / wall time of the sending phase
              (first send to last ack);
  p50/p99_ms  time from sending a client message to receiving the bot's reply to it
              (the bot message with the next sequence: the client message and the
              bot's answer are written in one transaction under the dialog lock);
  lost        planned messages (visitors x messages) without both an ack and the bot's
              reply within --deadline seconds of the last send (never-sent ones count);
  duplicated  "message" frames received twice with one sequence on one connection,
              acks marked duplicate, and client messages stored more than once
              (or stored without being sent) in the database;
  rss_per_conn_kb  (VmRSS of the Daphne processes with every connection open minus
              VmRSS before connecting) / visitors.

Usage (from the repository root):
    .venv/bin/python bench/widget_load.py [--visitors 500] [--messages 10]
        [--processes 1] [--channel-layer pubsub|core] [--database-url URL] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from bench.harness import (  # noqa: E402
    connections_per_process,
    cpu_seconds,
    log_summary,
    percentile,
    rss_kb,
    run_manage,
    subscriptions_left,
)
from tests.servers import DaphneServer, EmbeddedRedis  # noqa: E402

PUBLIC_KEY = "demo"
# None of these contains a keyword of the demo chat's "Talk to a person" script
# (operator, human, person), so every dialog stays with the bot. The third one
# triggers the "Prices" script (a marker row as well); the rest get the fallback.
TEXTS = (
    "Do you ship to Norway?",
    "Can I pay when the parcel arrives?",
    "What is the price of the blue one?",
    "Is the shop open on Sundays?",
    "My order number is 12345, where is it?",
)


# --- measurements -----------------------------------------------------------------


@dataclass
class Sent:
    client_msg_id: str
    sent_at: float
    ack_at: float | None = None
    sequence: int | None = None
    reply_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def check_done(self) -> None:
        if self.ack_at is not None and self.reply_at is not None:
            self.done.set()


@dataclass
class Totals:
    duplicate_frames: int = 0
    duplicate_acks: int = 0
    gaps: int = 0
    errors: Counter = field(default_factory=Counter)
    closed_early: Counter = field(default_factory=Counter)
    connect_failures: Counter = field(default_factory=Counter)


class Visitor:
    """One widget visitor: a websocket, a receive loop and a paced sender."""

    def __init__(self, index: int, *, ws_url: str, origin: str, token: str, totals: Totals):
        self.index = index
        self.ws_url = ws_url
        self.origin = origin
        self.token = token
        self.totals = totals
        self.ws: ClientConnection | None = None
        self.receiver: asyncio.Task | None = None
        self.dialog: str | None = None
        self.welcome_last_sequence: int | None = None
        self.ready = asyncio.Event()
        self.closed = asyncio.Event()
        self.connect_ms: float | None = None
        self.closing = False
        self.seen: set[int] = set()
        self.max_seen = 0
        self.sent: dict[str, Sent] = {}
        self.sent_by_sequence: dict[int, Sent] = {}
        self.bot_at: dict[int, float] = {}

    async def connect(self, timeout: float) -> bool:
        started = time.monotonic()
        try:
            self.ws = await connect(
                self.ws_url,
                additional_headers={"Origin": self.origin},
                max_size=1 << 20,
                open_timeout=timeout,
                ping_interval=None,  # browsers do not ping; Daphne pings and we answer
                close_timeout=5,
            )
            self.receiver = asyncio.create_task(self.receive_loop())
            await self.ws.send(
                json.dumps({"type": "hello", "token": self.token, "last_sequence": 0})
            )
            await asyncio.wait_for(self.ready.wait(), timeout)
        except (OSError, TimeoutError, ConnectionClosed) as error:
            self.totals.connect_failures[type(error).__name__] += 1
            return False
        except Exception as error:  # InvalidStatus and friends: the handshake failed
            self.totals.connect_failures[type(error).__name__] += 1
            return False
        self.connect_ms = (time.monotonic() - started) * 1000
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
                self.totals.closed_early[self.ws.close_code or "no close frame"] += 1
            self.closed.set()

    def on_frame(self, frame: dict, now: float) -> None:
        kind = frame.get("type")
        if kind == "message":
            self.on_message(frame["message"], now)
        elif kind == "ack":
            sent = self.sent.get(frame["client_msg_id"])
            if frame.get("duplicate") or sent is None or sent.ack_at is not None:
                self.totals.duplicate_acks += 1
            if sent is not None and sent.ack_at is None:
                sent.ack_at = now
                sent.sequence = frame["sequence"]
                self.sent_by_sequence[sent.sequence] = sent
                if sent.sequence + 1 in self.bot_at:
                    sent.reply_at = self.bot_at[sent.sequence + 1]
                sent.check_done()
        elif kind == "welcome":
            self.dialog = frame["dialog"]
            self.welcome_last_sequence = frame["last_sequence"]
            self.check_ready()
        elif kind == "error":
            self.totals.errors[frame.get("code", "?")] += 1

    def on_message(self, message: dict, now: float) -> None:
        sequence = message["sequence"]
        if sequence in self.seen:
            self.totals.duplicate_frames += 1
            return
        if sequence != self.max_seen + 1:
            self.totals.gaps += 1
        self.seen.add(sequence)
        self.max_seen = max(self.max_seen, sequence)
        if message["author_kind"] == "bot":
            self.bot_at[sequence] = now
            sent = self.sent_by_sequence.get(sequence - 1)
            if sent is not None and sent.reply_at is None:
                sent.reply_at = now
                sent.check_done()
        self.check_ready()

    def check_ready(self) -> None:
        last = self.welcome_last_sequence
        if last is not None and self.max_seen >= last:
            self.ready.set()

    async def send_all(
        self, *, messages: int, interval: float, closed_loop: bool, reply_timeout: float
    ) -> None:
        assert self.ws is not None
        next_at = time.monotonic() + random.uniform(0, interval)  # spread the first sends
        for number in range(messages):
            if self.closed.is_set():
                return
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            client_msg_id = f"bench-{self.index}-{number}"
            sent = Sent(client_msg_id=client_msg_id, sent_at=time.monotonic())
            self.sent[client_msg_id] = sent
            text = f"{TEXTS[(self.index + number) % len(TEXTS)]} ({self.index}/{number})"
            try:
                await self.ws.send(
                    json.dumps({"type": "message", "client_msg_id": client_msg_id, "text": text})
                )
            except ConnectionClosed:
                del self.sent[client_msg_id]  # never left: lost, but not "sent"
                return
            next_at = sent.sent_at + interval
            if closed_loop:
                waiter = asyncio.create_task(sent.done.wait())
                closer = asyncio.create_task(self.closed.wait())
                await asyncio.wait(
                    {waiter, closer}, timeout=reply_timeout, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
                closer.cancel()

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


def database_check(dialogs: list[str], sent_ids: dict[str, set[str]]) -> dict:
    """Count the client messages stored in this run's dialogs; duplicates are rows
    sharing (dialog, client_msg_id) and rows whose client_msg_id was never sent."""
    from django.db import connection
    from django.db.models import Count

    from chats.models import Message

    rows = (
        Message.objects.filter(dialog__session_id__in=dialogs, author_kind="client")
        .values("dialog__session_id", "client_msg_id")
        .annotate(copies=Count("id"))
    )
    stored = 0
    duplicated = 0
    unexpected = 0
    for row in rows.iterator():
        stored += row["copies"]
        duplicated += row["copies"] - 1
        if row["client_msg_id"] not in sent_ids.get(row["dialog__session_id"], set()):
            unexpected += 1
    bot_rows = Message.objects.filter(dialog__session_id__in=dialogs, author_kind="bot").count()
    connection.close()
    return {
        "stored": stored,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "bot_rows": bot_rows,
    }


# --- the run ----------------------------------------------------------------------


@dataclass
class Outcome:
    visitors: list[Visitor] = field(default_factory=list)
    connected: int = 0
    connect_seconds: float = 0.0
    rss_before_kb: int = 0
    rss_connected_kb: int = 0
    rss_after_kb: int = 0
    spread: list[int] = field(default_factory=list)  # connections held per Daphne process
    subscriptions_left: int = 0  # channel-layer subscriptions after every socket closed
    send_started: float | None = None
    last_send: float | None = None
    last_ack: float | None = None
    cpu_before: float = 0.0
    cpu_after: float | None = None
    timed_out: bool = False
    totals: Totals = field(default_factory=Totals)


async def warm_up(server: DaphneServer, origin: str) -> None:
    """Load the consumer path once (chat lookup, signing) without creating a dialog:
    a hello with a bad token is refused before anything is written."""
    async with connect(
        f"{server.ws_url}/ws/widget/{PUBLIC_KEY}/",
        additional_headers={"Origin": origin},
        open_timeout=30,
    ) as ws:
        await ws.send(json.dumps({"type": "hello", "token": "not-a-token", "last_sequence": 0}))
        try:
            async for _frame in ws:
                pass
        except ConnectionClosed:
            pass


async def run_load(
    args: argparse.Namespace, servers: list[DaphneServer], tokens: list[str], outcome: Outcome
) -> None:
    totals = outcome.totals
    pids = [pid for server in servers for pid in server.pids]
    for server in servers:
        origin = f"http://127.0.0.1:{server.port}"
        await warm_up(server, origin)
    await asyncio.sleep(1.0)
    outcome.rss_before_kb = sum(rss_kb(pid) for pid in pids)

    for index, token in enumerate(tokens):
        server = servers[index % len(servers)]
        outcome.visitors.append(
            Visitor(
                index,
                ws_url=f"{server.ws_url}/ws/widget/{PUBLIC_KEY}/",
                origin=f"http://127.0.0.1:{server.port}",
                token=token,
                totals=totals,
            )
        )
    connect_started = time.monotonic()
    connected: list[Visitor] = []
    for start in range(0, len(outcome.visitors), args.batch):
        batch = outcome.visitors[start : start + args.batch]
        results = await asyncio.gather(*(v.connect(args.deadline) for v in batch))
        connected.extend(v for v, ok in zip(batch, results, strict=True) if ok)
    outcome.connect_seconds = time.monotonic() - connect_started
    outcome.connected = len(connected)
    await asyncio.sleep(1.0)
    outcome.rss_connected_kb = sum(rss_kb(pid) for pid in pids)
    outcome.spread = [count for server in servers for count in connections_per_process(server)]

    outcome.cpu_before = sum(cpu_seconds(pid) for pid in pids)
    outcome.send_started = time.monotonic()
    await asyncio.gather(
        *(
            v.send_all(
                messages=args.messages,
                interval=args.interval,
                closed_loop=not args.open_loop,
                reply_timeout=args.deadline,
            )
            for v in connected
        )
    )
    all_sent = [s for v in connected for s in v.sent.values()]
    outcome.last_send = max((s.sent_at for s in all_sent), default=outcome.send_started)
    remaining = outcome.last_send + args.deadline - time.monotonic()
    pending = [s.done.wait() for s in all_sent if not s.done.is_set()]
    if pending and remaining > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*pending), remaining)
    outcome.cpu_after = sum(cpu_seconds(pid) for pid in pids)
    outcome.rss_after_kb = sum(rss_kb(pid) for pid in pids)
    await asyncio.gather(*(v.close() for v in outcome.visitors))


async def run_bounded(args, servers, tokens, outcome: Outcome, seconds: float) -> None:
    try:
        await asyncio.wait_for(run_load(args, servers, tokens, outcome), seconds)
    except TimeoutError:
        outcome.timed_out = True
        for visitor in outcome.visitors:
            visitor.closing = True
            if visitor.receiver is not None:
                visitor.receiver.cancel()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=500)
    parser.add_argument("--messages", type=int, default=10, help="messages per visitor")
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between a visitor's sends (min)"
    )
    parser.add_argument(
        "--open-loop",
        action="store_true",
        help="send on schedule without waiting for the bot's reply to the previous message",
    )
    parser.add_argument("--batch", type=int, default=50, help="visitors connecting at once")
    parser.add_argument("--processes", type=int, default=1, help="Daphne processes")
    parser.add_argument("--channel-layer", choices=["pubsub", "core"], default="pubsub")
    parser.add_argument(
        "--database-url",
        help="an existing (e.g. PostgreSQL) database; default: fresh SQLite in a temp dir",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=30.0,
        help="seconds to wait for a connect, a reply, and for everything after the last send",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="overall time limit (s)")
    parser.add_argument(
        "--settings",
        default="config.settings",
        help="Django settings module for the servers and this script (for experiments: "
        "a module on PYTHONPATH that imports config.settings and changes something)",
    )
    parser.add_argument("--debug", action="store_true", help="run the servers with DEBUG=1")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and logs")
    parser.add_argument("--quick", action="store_true", help="20 visitors x 3 messages")
    args = parser.parse_args(argv)
    if args.quick:
        args.visitors, args.messages, args.timeout = 20, 3, min(args.timeout, 240.0)
    if args.visitors < 1 or args.messages < 1 or args.processes < 1 or args.batch < 1:
        parser.error("--visitors, --messages, --processes and --batch must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    hard_limit = args.timeout + 60
    children: list = []

    def watchdog() -> None:
        sys.stderr.write(f"widget_load: over the hard limit of {hard_limit:.0f} s, stopping\n")
        for child in children:
            for process in getattr(child, "processes", None) or [child.process]:
                if process is not None and process.poll() is None:
                    process.kill()
        os._exit(3)

    timer = threading.Timer(hard_limit, watchdog)
    timer.daemon = True
    timer.start()

    workdir = Path(tempfile.mkdtemp(prefix="baton-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = args.settings
    os.environ["DATABASE_URL"] = database_url
    os.environ["BATON_DATABASE_NAME"] = ""  # a test-suite override must not leak in
    os.environ["BATON_CHANNEL_LAYER"] = args.channel_layer
    os.environ["DEBUG"] = "1" if args.debug else "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")  # DEBUG off requires one

    import django

    django.setup()
    from chats.visitor_tokens import visitor_token_issue

    redis = EmbeddedRedis()
    servers: list[DaphneServer] = []
    outcome = Outcome()
    try:
        redis.start()
        children.append(redis)
        env = {**os.environ, "REDIS_URL": redis.url}
        run_manage(["migrate", "--noinput"], env, timeout=120)
        run_manage(["load_demo"], env, timeout=60)
        server_env = {
            "DATABASE_URL": database_url,
            "BATON_DATABASE_NAME": "",
            "BATON_CHANNEL_LAYER": args.channel_layer,
            "DEBUG": os.environ["DEBUG"],
            "DJANGO_SETTINGS_MODULE": args.settings,
        }
        # one port, --processes Daphne processes with a socket each (config/runner.py)
        server = DaphneServer(redis_url=redis.url, extra_env=server_env, processes=args.processes)
        children.append(server)
        servers.append(server.start())
        tokens = [visitor_token_issue(public_key=PUBLIC_KEY) for _ in range(args.visitors)]
        engine = "sqlite (fresh, temp dir)" if not args.database_url else "given --database-url"
        print(
            f"# widget_load: {args.visitors} visitors x {args.messages} messages, "
            f"{args.processes} Daphne process(es) on one port (pids "
            f"{' '.join(str(pid) for pid in server.pids)}), channel layer {args.channel_layer}, "
            f"database {engine}, DEBUG={os.environ['DEBUG']}, settings {args.settings}, "
            "embedded Redis",
            flush=True,
        )
        print(
            f"# pacing: server rate limits left at their defaults (burst 20, 5 frames/s); "
            f"each visitor sends at most one message per {args.interval} s"
            + (
                " on schedule (open loop)"
                if args.open_loop
                else " and waits for the bot's reply first (closed loop)"
            )
            + f"; connects in batches of {args.batch}; client and servers share "
            f"{os.cpu_count()} cores",
            flush=True,
        )
        remaining = args.timeout - (time.monotonic() - started) - 15
        asyncio.run(run_bounded(args, servers, tokens, outcome, max(remaining, 1.0)))
        outcome.subscriptions_left = subscriptions_left(redis.url, seconds=min(args.deadline, 30))
    finally:
        for server in servers:
            server.stop()
        redis.stop()

    visitors = outcome.visitors
    all_sent = [s for v in visitors for s in v.sent.values()]
    acked = [s for s in all_sent if s.ack_at is not None]
    answered = [s for s in all_sent if s.ack_at is not None and s.reply_at is not None]
    reply_ms = [(s.reply_at - s.sent_at) * 1000 for s in answered]
    ack_ms = [(s.ack_at - s.sent_at) * 1000 for s in acked]
    connect_ms = [v.connect_ms for v in visitors if v.connect_ms is not None]
    planned = args.visitors * args.messages
    lost = planned - len(answered)
    if outcome.send_started is not None and acked:
        send_seconds = max(s.ack_at for s in acked) - outcome.send_started
    else:
        send_seconds = math.nan
    msgs_per_s = len(acked) / send_seconds if acked and send_seconds > 0 else 0.0

    dialogs = [v.dialog for v in visitors if v.dialog]
    sent_ids = {v.dialog: set(v.sent) for v in visitors if v.dialog}
    db = database_check(dialogs, sent_ids) if dialogs else None
    totals = outcome.totals
    duplicated = totals.duplicate_frames + totals.duplicate_acks
    if db is not None:
        duplicated += db["duplicated"] + db["unexpected"]
    rss_per_conn = (outcome.rss_connected_kb - outcome.rss_before_kb) / args.visitors

    for server in servers:
        print(f"# daphne :{server.port} log: {log_summary(server.output())}")
        if args.keep:
            print(f"# daphne :{server.port} log kept at {server.log.name}")
        else:
            Path(server.log.name).unlink(missing_ok=True)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(redis.directory, ignore_errors=True)
    else:
        print(f"# kept {workdir}")

    cpu = math.nan if outcome.cpu_after is None else outcome.cpu_after - outcome.cpu_before
    print(
        f"# connect: {outcome.connected}/{args.visitors} connected in "
        f"{outcome.connect_seconds:.1f} s (hello to greeting p50 "
        f"{percentile(connect_ms, 50):.0f} ms, p99 {percentile(connect_ms, 99):.0f} ms)"
        + (f"; failures {dict(totals.connect_failures)}" if totals.connect_failures else "")
        + (
            f"; per process (the kernel's pick) {'/'.join(map(str, outcome.spread))}"
            if len(outcome.spread) > 1
            else ""
        )
    )
    print(
        f"# send: {len(all_sent)} sent, {len(acked)} acked, {len(answered)} answered by the bot "
        f"in {send_seconds:.1f} s; send->ack p50 {percentile(ack_ms, 50):.1f} ms "
        f"p99 {percentile(ack_ms, 99):.1f} ms; send->reply p50 {percentile(reply_ms, 50):.1f} ms "
        f"p99 {percentile(reply_ms, 99):.1f} ms max {max(reply_ms, default=math.nan):.1f} ms"
    )
    print(
        f"# frames: {totals.duplicate_frames} duplicate, {totals.gaps} out-of-order/gap, "
        f"{totals.duplicate_acks} duplicate acks; errors {dict(totals.errors) or 'none'}; "
        f"closed by the server early {dict(totals.closed_early) or 'none'}"
        + (
            f"; {outcome.subscriptions_left} channel-layer subscriptions still open after "
            "every socket closed"
            if outcome.subscriptions_left
            else ""
        )
    )
    if db is not None:
        print(
            f"# database: {db['stored']} client messages stored for {len(dialogs)} dialogs "
            f"(expected {planned}), {db['duplicated']} duplicate rows, "
            f"{db['unexpected']} never sent, {db['bot_rows']} bot messages"
        )
    print(
        f"# servers: RSS {outcome.rss_before_kb / 1024:.1f} MiB before connecting, "
        f"{outcome.rss_connected_kb / 1024:.1f} MiB connected, "
        f"{outcome.rss_after_kb / 1024:.1f} MiB after sending; CPU {cpu:.1f} s while sending"
        + (f" ({cpu / send_seconds * 100:.0f}% of one core)" if send_seconds > 0 else "")
        + (" -- TIMED OUT" if outcome.timed_out else "")
    )
    print(
        f"widget_load: visitors={args.visitors} msgs_per_s={msgs_per_s:.1f} "
        f"p50_ms={percentile(reply_ms, 50):.1f} p99_ms={percentile(reply_ms, 99):.1f} "
        f"lost={lost} duplicated={duplicated} rss_per_conn_kb={rss_per_conn:.1f}",
        flush=True,
    )
    timer.cancel()
    return 0 if lost == 0 and duplicated == 0 and not outcome.timed_out else 1


if __name__ == "__main__":
    sys.exit(main())
