"""Relay benchmark: D concurrent dialogs, each a visitor and an operator talking to
each other through Baton (Daphne + Redis + the database), compared in the same run
with the same load on two other systems:

  ceiling  bench/raw_relay.py: a bare asyncio `websockets` server that pairs two sockets
           by a key and forwards each frame to both (no Django, no Redis, no database);
  peer     bench/peer_app.py: the Channels tutorial's group chat (AsyncWebsocketConsumer,
           group_send of every frame to the room's group over the same Redis channel
           layer as Baton's) served by Daphne with its own settings; nothing is stored;
  baton    the real thing: the visitor on /ws/widget/demo/, the operator on /ws/console/
           watching the dialog's accepted request; every message is committed with its
           sequence before it is acknowledged or delivered.

Self-contained: starts the embedded Redis, the relay and Daphne processes (tests/servers.py)
on free loopback ports (with --processes N, the peer and Baton each run N Daphne processes
on one port, a socket each, as `make run` runs Baton with WEB_CONCURRENCY=N: the kernel
hands each connection to one of them, so a dialog's two sockets may sit on different processes and
its messages then cross the channel layer between them; the ceiling, which pairs sockets
in one process, runs N processes on N ports with each dialog on one of them), migrates
a fresh SQLite database in a temporary directory (or the database given with
--database-url) and loads the demo chat.

Baton setup, before the clock starts: each visitor says hello with a fresh token (that
creates its dialog, greeted by the bot); then this process opens a request for every
dialog and has an operator accept it (handoff.services.request_open/request_accept,
one operator account per --dialogs-per-operator dialogs, logged in through a session
made here); then one console websocket per dialog (several per operator account)
watches its request from sequence 0.

Pacing, the same for all three systems: each side sends at most one message per
--interval seconds for --duration seconds and waits for the acknowledgement of its
previous message first (closed loop; Baton: the "ack" frame; ceiling and peer: its own
frame coming back). --max-rate sends the next message as soon as the previous one is
acknowledged. Baton's widget rate limit (burst 20, 5 frames/s per socket) is left at its
default unless --max-rate is given (then it is raised; the header says so).

Checks, per dialog and side: every message the other side sent arrives exactly once
and in the order it was sent; for Baton also every "message" frame's sequence is the
previous one plus one, and the database holds every acknowledged message once.

The last line printed is always
    relay: dialogs=.. msgs_per_s=.. p50_ms=.. p99_ms=.. lost=.. duplicated=.. reordered=..
    ceiling_ratio=.. peer_ratio=..
(on one line), Baton's figures, where
  msgs_per_s  messages delivered to the other side / time from the first send to the
              last delivery;
  p50/p99_ms  time from a side sending a message to the other side receiving it;
  lost        messages sent but not received by the other side within --deadline s of
              the last send, plus (Baton) acknowledged messages missing from the database;
  duplicated  messages received twice on one socket, duplicate acks, and (Baton) stored
              messages that were never sent;
  reordered   messages received after a later one of the same sender, plus (Baton)
              "message" frames whose sequence is lower than one received before;
  ceiling_ratio, peer_ratio  Baton's msgs_per_s / the ceiling's and the peer's.
Lines starting with # before it give the details of each system.

Targets (reported against, not asserted): at 1,000 dialogs x 1 msg/s a side, p99 <= 100 ms
and nothing lost; at --max-rate, Baton >= 1/3 of the ceiling and >= 1x the peer.

Usage (from the repository root):
    .venv/bin/python bench/relay.py [--dialogs 1000] [--interval 1.0] [--duration 30]
        [--max-rate] [--processes 1] [--systems ceiling,peer,baton]
        [--database-url URL] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import secrets
import shutil
import sys
import tempfile
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
    AsgiDaphne,
    HardLimit,
    ScriptServer,
    connections_per_process,
    cpu_seconds,
    fast_password_hashing,
    log_summary,
    operator_session_key,
    percentile,
    processes_by_client,
    run_manage,
    subscriptions_left,
)
from tests.servers import DaphneServer, EmbeddedRedis  # noqa: E402

PUBLIC_KEY = "demo"
SYSTEMS = ("ceiling", "peer", "baton")
BENCH_ID = re.compile(r"([vo])-(\d+)-(\d+)")  # client_msg_id: side-dialog-number
HIGH_RATE_LIMIT = "1000000"


# --- measurements -----------------------------------------------------------------


@dataclass
class Msg:
    sent_at: float
    acked_at: float | None = None
    delivered_at: float | None = None


@dataclass
class Totals:
    duplicate_frames: int = 0
    duplicate_acks: int = 0
    reordered: int = 0
    sequence_gaps: int = 0
    unexpected: int = 0
    errors: Counter = field(default_factory=Counter)
    closed_early: Counter = field(default_factory=Counter)
    connect_failures: Counter = field(default_factory=Counter)


class Run:
    """One system's run: its sides, totals and clock."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.totals = Totals()
        self.sides: list[Side] = []
        self.pending = 0  # sent, not yet delivered to the other side
        self.connected = 0
        self.connect_seconds = 0.0
        self.setup_notes: list[str] = []
        self.send_started: float | None = None
        self.send_ended: float | None = None
        self.server_cpu = math.nan
        self.redis_cpu = math.nan
        self.client_cpu = math.nan
        self.measured_seconds = math.nan
        self.timed_out = False
        self.database: dict | None = None


class Side:
    """One end of a dialog: a websocket, a receive loop and a paced sender.
    Subclasses speak each system's frames."""

    echo_is_ack = True

    def __init__(
        self, run: Run, dialog: int, kind: str, *, url: str, headers: dict[str, str]
    ) -> None:
        self.run = run
        self.dialog = dialog
        self.kind = kind  # "v" visitor or "o" operator
        self.url = url
        self.headers = headers
        self.other: Side | None = None
        self.ws: ClientConnection | None = None
        self.receiver: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.closed = asyncio.Event()
        self.closing = False
        self.connected = False
        self.sent: list[Msg] = []
        self.ack_event = asyncio.Event()
        self.waiting_for: int | None = None
        self.got: set[int] = set()  # numbers of the other side's messages received
        self.max_got = -1
        self.echoes: set[int] = set()

    # --- connection
    async def connect(self, timeout: float) -> bool:
        totals = self.run.totals
        try:
            self.ws = await connect(
                self.url,
                additional_headers=self.headers,
                max_size=1 << 20,
                open_timeout=timeout,
                ping_interval=None,  # browsers do not ping; Daphne pings and we answer
                close_timeout=5,
            )
            self.receiver = asyncio.create_task(self.receive_loop())
            await self.greet()
            await asyncio.wait_for(self.ready.wait(), timeout)
        except Exception as error:  # OSError, TimeoutError, InvalidStatus...: it failed
            totals.connect_failures[type(error).__name__] += 1
            return False
        self.connected = True
        return True

    async def greet(self) -> None:
        self.ready.set()

    async def receive_loop(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                self.on_frame(raw, time.monotonic())
        except ConnectionClosed:
            pass
        finally:
            if not self.closing:
                self.run.totals.closed_early[self.ws.close_code or "no close frame"] += 1
            self.closed.set()
            self.ack_event.set()

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

    # --- what arrives
    def on_frame(self, raw: str | bytes, now: float) -> None:
        raise NotImplementedError

    def on_ack(self, number: int, now: float, *, duplicate: bool = False) -> None:
        if number >= len(self.sent):
            self.run.totals.unexpected += 1
            return
        message = self.sent[number]
        if duplicate or message.acked_at is not None:
            self.run.totals.duplicate_acks += 1
        if message.acked_at is None:
            message.acked_at = now
            if self.waiting_for == number:
                self.ack_event.set()

    def on_message(
        self, kind: str, dialog: int, number: int, now: float, *, reordered: bool = False
    ) -> None:
        """A message of the benchmark (not a greeting or notice) arrived."""
        totals = self.run.totals
        if dialog != self.dialog:
            totals.unexpected += 1
            return
        if kind == self.kind:  # our own, coming back
            if self.echo_is_ack:
                self.on_ack(number, now)
            elif number in self.echoes:
                totals.duplicate_frames += 1
            else:
                self.echoes.add(number)
            return
        assert self.other is not None
        if number >= len(self.other.sent):
            totals.unexpected += 1
            return
        if number in self.got:
            totals.duplicate_frames += 1
            return
        if reordered or number < self.max_got:
            totals.reordered += 1
        self.got.add(number)
        self.max_got = max(self.max_got, number)
        message = self.other.sent[number]
        message.delivered_at = now
        self.run.pending -= 1

    # --- what is sent
    def frame(self, number: int) -> str:
        raise NotImplementedError

    async def send_loop(self, *, start: float, end: float, interval: float, ack_wait: float):
        assert self.ws is not None
        next_at = start + random.uniform(0, interval) if interval > 0 else start
        while not self.closed.is_set():
            if next_at >= end:
                return
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            number = len(self.sent)
            message = Msg(sent_at=time.monotonic())
            self.sent.append(message)
            self.run.pending += 1
            self.waiting_for = number
            self.ack_event.clear()
            try:
                await self.ws.send(self.frame(number))
            except ConnectionClosed:
                self.sent.pop()  # never left: not "sent"
                self.run.pending -= 1
                return
            next_at = message.sent_at + interval
            if message.acked_at is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ack_event.wait(), ack_wait)
            self.waiting_for = None
            if interval <= 0:
                next_at = time.monotonic()


class RoomSide(Side):
    """Ceiling and peer: frames {"message": "<side>|<dialog>|<number>|<text>"}, echoed to
    every member of the dialog's room (the sender's copy is its ack)."""

    def frame(self, number: int) -> str:
        who = "visitor" if self.kind == "v" else "operator"
        text = f"{who} {self.dialog} message {number}"
        return json.dumps({"message": f"{self.kind}|{self.dialog}|{number}|{text}"})

    def on_frame(self, raw: str | bytes, now: float) -> None:
        try:
            kind, dialog, number, _text = json.loads(raw)["message"].split("|", 3)
            self.on_message(kind, int(dialog), int(number), now)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.run.totals.errors["unparsable frame"] += 1


class BatonSide(Side):
    """Baton's frames (docs/protocol.md): message frames carry the dialog's sequence."""

    echo_is_ack = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen_sequences: set[int] = set()
        self.last_sequence = 0
        self.target_sequence: int | None = None

    def expect(self, sequence: int) -> None:
        """Ready once every message up to `sequence` has arrived."""
        self.target_sequence = sequence
        self.ready.clear()
        self.check_ready()

    def check_ready(self) -> None:
        if self.target_sequence is not None and self.last_sequence >= self.target_sequence:
            self.ready.set()

    def client_msg_id(self, number: int) -> str:
        return f"{self.kind}-{self.dialog}-{number}"

    def on_frame(self, raw: str | bytes, now: float) -> None:
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "message":
            self.on_stored_message(frame["message"], now)
        elif kind == "ack":
            match = BENCH_ID.fullmatch(frame.get("client_msg_id") or "")
            if match is None or match[1] != self.kind or int(match[2]) != self.dialog:
                self.run.totals.unexpected += 1
            else:
                self.on_ack(int(match[3]), now, duplicate=bool(frame.get("duplicate")))
        elif kind == "error":
            self.run.totals.errors[frame.get("code", "?")] += 1
        else:
            self.on_other_frame(frame)

    def on_other_frame(self, frame: dict) -> None:
        pass

    def on_stored_message(self, message: dict, now: float) -> None:
        totals = self.run.totals
        sequence = message["sequence"]
        if sequence in self.seen_sequences:
            totals.duplicate_frames += 1
            return
        backwards = sequence < self.last_sequence
        if sequence > self.last_sequence + 1:
            totals.sequence_gaps += 1
        self.seen_sequences.add(sequence)
        self.last_sequence = max(self.last_sequence, sequence)
        match = BENCH_ID.fullmatch(message.get("client_msg_id") or "")
        if match is not None:
            self.on_message(match[1], int(match[2]), int(match[3]), now, reordered=backwards)
        elif backwards:
            totals.reordered += 1
        self.check_ready()


class VisitorSide(BatonSide):
    def __init__(self, *args, token: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.token = token
        self.session_id: str | None = None

    async def greet(self) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"type": "hello", "token": self.token, "last_sequence": 0}))

    def on_other_frame(self, frame: dict) -> None:
        if frame.get("type") == "welcome":
            self.session_id = frame["dialog"]
            self.expect(frame["last_sequence"])

    def frame(self, number: int) -> str:
        return json.dumps(
            {
                "type": "message",
                "client_msg_id": self.client_msg_id(number),
                "text": f"visitor {self.dialog} message {number}",
            }
        )


class OperatorSide(BatonSide):
    def __init__(self, *args, request_id: int, last_sequence: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request_id = request_id
        self.initial_sequence = last_sequence
        self.watching = False

    async def greet(self) -> None:
        assert self.ws is not None
        await self.ws.send(
            json.dumps({"type": "watch", "request": self.request_id, "last_sequence": 0})
        )

    def on_other_frame(self, frame: dict) -> None:
        if frame.get("type") == "watching":
            self.watching = True
            self.expect(self.initial_sequence)

    def frame(self, number: int) -> str:
        return json.dumps(
            {
                "type": "message",
                "request": self.request_id,
                "client_msg_id": self.client_msg_id(number),
                "text": f"operator {self.dialog} message {number}",
            }
        )


# --- running one system ---------------------------------------------------------------


async def connect_all(sides: list[Side], *, batch: int, timeout: float) -> int:
    connected = 0
    for start in range(0, len(sides), batch):
        group = sides[start : start + batch]
        results = await asyncio.gather(*(side.connect(timeout) for side in group))
        connected += sum(results)
    return connected


def pair(visitor: Side, operator: Side) -> None:
    visitor.other = operator
    operator.other = visitor


async def measure(run: Run, args: argparse.Namespace, pids: list[int], redis_pid: int | None):
    """Both sides of every connected dialog send for --duration seconds; then wait up
    to --deadline s for what is in flight."""
    sides = [s for s in run.sides if s.connected and s.other is not None and s.other.connected]
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    redis_before = cpu_seconds(redis_pid) if redis_pid else math.nan
    client_before = time.process_time()
    start = time.monotonic() + 0.2
    run.send_started = start
    interval = 0.0 if args.max_rate else args.interval
    await asyncio.gather(
        *(
            side.send_loop(
                start=start, end=start + args.duration, interval=interval, ack_wait=args.deadline
            )
            for side in sides
        )
    )
    run.send_ended = time.monotonic()
    give_up = run.send_ended + args.deadline
    while run.pending > 0 and time.monotonic() < give_up:
        await asyncio.sleep(0.02)
    elapsed_client = time.process_time() - client_before
    run.server_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    run.redis_cpu = cpu_seconds(redis_pid) - redis_before if redis_pid else math.nan
    run.client_cpu = elapsed_client
    run.measured_seconds = time.monotonic() - start


async def close_all(sides: list[Side]) -> None:
    await asyncio.gather(*(side.close() for side in sides))


async def run_ceiling(args, servers: list[ScriptServer], run: Run) -> None:
    for index in range(args.dialogs):
        server = servers[index % len(servers)]
        url = f"ws://127.0.0.1:{server.port}/dialog-{index}"
        visitor = RoomSide(run, index, "v", url=url, headers={})
        operator = RoomSide(run, index, "o", url=url, headers={})
        pair(visitor, operator)
        run.sides += [visitor, operator]
    try:
        started = time.monotonic()
        run.connected = await connect_all(run.sides, batch=args.batch, timeout=args.deadline)
        run.connect_seconds = time.monotonic() - started
        await asyncio.sleep(0.5)
        await measure(run, args, [pid for s in servers for pid in s.pids], None)
    finally:
        await close_all(run.sides)


def note_spread(run: Run, servers: list[DaphneServer]) -> None:
    """With several processes on one port: how the kernel spread the sockets, and how
    many dialogs have their two sides on different processes."""
    [server] = servers
    if len(server.pids) < 2:
        return
    holder = processes_by_client(server)

    def pid_of(side: Side) -> int | None:
        return holder.get(side.ws.local_address[:2]) if side.ws is not None else None

    pairs = [(side, side.other) for side in run.sides if side.kind == "v" and side.other]
    apart = sum(1 for one, other in pairs if pid_of(one) != pid_of(other))
    run.setup_notes.append(
        f"sockets per process (the kernel's pick) "
        f"{'/'.join(map(str, connections_per_process(server)))}; "
        f"{apart}/{len(pairs)} dialogs have their two sides on different processes"
    )


async def run_peer(args, servers: list[DaphneServer], redis: EmbeddedRedis, run: Run) -> None:
    for index in range(args.dialogs):
        sides = []
        for kind in ("v", "o"):
            [server] = servers
            sides.append(
                RoomSide(
                    run,
                    index,
                    kind,
                    url=f"{server.ws_url}/ws/chat/dialog{index}/",
                    headers={"Origin": f"http://127.0.0.1:{server.port}"},
                )
            )
        pair(*sides)
        run.sides += sides
    try:
        started = time.monotonic()
        run.connected = await connect_all(run.sides, batch=args.batch, timeout=args.deadline)
        run.connect_seconds = time.monotonic() - started
        await asyncio.sleep(0.5)
        note_spread(run, servers)
        await measure(run, args, [pid for s in servers for pid in s.pids], redis.process.pid)
    finally:
        await close_all(run.sides)


def baton_accept_all(session_ids: list[str], per_operator: int, tag: str) -> list[dict]:
    """Open a request in every dialog and have an operator accept it; one operator
    account (and one logged-in session) per `per_operator` dialogs."""
    from chats.models import Chat, Dialog
    from distributor.models import Operator
    from distributor.services import operator_create
    from handoff import services

    chat = Chat.objects.get(public_key=PUBLIC_KEY)
    operators = []
    for number in range(math.ceil(len(session_ids) / per_operator)):
        operator = operator_create(
            username=f"bench-{tag}-{number}",
            password=secrets.token_urlsafe(12),
            display_name=f"Operator {number}",
            chats=[chat],
        )
        # each operator holds per_operator conversations at once (the cap allows it)
        Operator.objects.filter(pk=operator.pk).update(max_simultaneous_dialogs=per_operator)
        operators.append((operator, operator_session_key(operator.user)))
    dialogs = Dialog.objects.select_related("chat", "client").in_bulk(
        session_ids, field_name="session_id"
    )
    accepted = []
    for index, session_id in enumerate(session_ids):
        dialog = dialogs[session_id]
        request = services.request_open(dialog=dialog, reason="headset")
        if request is None:
            raise SystemExit("relay: the demo chat did not open a request (working hours?)")
        operator, session_key = operators[index // per_operator]
        services.request_accept(request=request, operator=operator)
        accepted.append({"dialog": dialog.pk, "request": request.pk, "session": session_key})
    last = dict(
        Dialog.objects.filter(pk__in=[item["dialog"] for item in accepted]).values_list(
            "pk", "last_sequence"
        )
    )
    for item in accepted:
        item["last_sequence"] = last[item["dialog"]]
    return accepted


def baton_database_check(dialog_pks: dict[int, int], sides: list[Side]) -> dict:
    """What the database holds of the benchmark's messages (client_msg_id side-dialog-n)."""
    from django.db import connections

    from chats.models import Message

    stored: dict[tuple[str, int], list[tuple[int, int]]] = {}
    by_pk = {pk: index for index, pk in dialog_pks.items()}
    rows = Message.objects.filter(dialog_id__in=list(dialog_pks.values())).exclude(
        client_msg_id=None
    )
    copies = Counter()
    unexpected = 0
    for dialog_pk, client_msg_id, sequence in rows.values_list(
        "dialog_id", "client_msg_id", "sequence"
    ).iterator():
        match = BENCH_ID.fullmatch(client_msg_id)
        if match is None or int(match[2]) != by_pk[dialog_pk]:
            unexpected += 1
            continue
        copies[client_msg_id] += 1
        stored.setdefault((match[1], int(match[2])), []).append((sequence, int(match[3])))
    missing = 0
    never_sent = 0
    out_of_order = 0
    for side in sides:
        numbers = stored.get((side.kind, side.dialog), [])
        never_sent += sum(1 for _sequence, number in numbers if number >= len(side.sent))
        kept = {number for _sequence, number in numbers}
        for number, message in enumerate(side.sent):
            if message.acked_at is not None and number not in kept:
                missing += 1
                message.delivered_at = None  # not in the record: lost
        in_sequence = [number for _sequence, number in sorted(numbers)]
        out_of_order += sum(1 for a, b in zip(in_sequence, in_sequence[1:], strict=False) if b < a)
    connections.close_all()
    return {
        "stored": sum(copies.values()),
        "duplicated": sum(count - 1 for count in copies.values()),
        "never_sent": never_sent + unexpected,
        "missing": missing,
        "out_of_order": out_of_order,
    }


async def run_baton(args, servers: list[DaphneServer], redis: EmbeddedRedis, run: Run) -> None:
    from asgiref.sync import sync_to_async

    from chats.visitor_tokens import visitor_token_issue

    visitors: list[VisitorSide] = []
    for index in range(args.dialogs):
        [server] = servers
        visitors.append(
            VisitorSide(
                run,
                index,
                "v",
                url=f"{server.ws_url}/ws/widget/{PUBLIC_KEY}/",
                headers={"Origin": f"http://127.0.0.1:{server.port}"},
                token=visitor_token_issue(public_key=PUBLIC_KEY),
            )
        )
    run.sides += visitors
    operators: list[OperatorSide] = []
    greeted: list[VisitorSide] = []
    accepted: list[dict] = []
    try:
        started = time.monotonic()
        connected = await connect_all(visitors, batch=args.batch, timeout=args.deadline)
        run.setup_notes.append(
            f"{connected}/{len(visitors)} visitors said hello in {time.monotonic() - started:.1f} s"
        )
        greeted = [v for v in visitors if v.connected and v.session_id]
        step = time.monotonic()
        accepted = await sync_to_async(baton_accept_all)(
            [v.session_id for v in greeted], args.dialogs_per_operator, secrets.token_hex(4)
        )
        run.setup_notes.append(
            f"{len(accepted)} requests opened and accepted by "
            f"{math.ceil(len(accepted) / args.dialogs_per_operator)} operators in "
            f"{time.monotonic() - step:.1f} s"
        )
        for visitor, item in zip(greeted, accepted, strict=True):
            visitor.expect(item["last_sequence"])
            [server] = servers
            operator = OperatorSide(
                run,
                visitor.dialog,
                "o",
                url=f"{server.ws_url}/ws/console/",
                headers={
                    "Origin": f"http://127.0.0.1:{server.port}",
                    "Cookie": f"sessionid={item['session']}",
                },
                request_id=item["request"],
                last_sequence=item["last_sequence"],
            )
            pair(visitor, operator)
            operators.append(operator)
        run.sides += operators
        step = time.monotonic()
        watching = await connect_all(operators, batch=args.batch, timeout=args.deadline)
        run.setup_notes.append(
            f"{watching}/{len(operators)} consoles watching in {time.monotonic() - step:.1f} s"
        )
        with contextlib.suppress(TimeoutError):  # the notices of the accept reach visitors
            await asyncio.wait_for(
                asyncio.gather(*(v.ready.wait() for v in greeted)), args.deadline
            )
        run.connected = sum(1 for side in run.sides if side.connected)
        run.connect_seconds = time.monotonic() - started
        await asyncio.sleep(0.5)
        note_spread(run, servers)
        await measure(run, args, [pid for s in servers for pid in s.pids], redis.process.pid)
    finally:
        await close_all(run.sides)
    dialog_pks = {v.dialog: item["dialog"] for v, item in zip(greeted, accepted, strict=True)}
    if dialog_pks:
        run.database = await sync_to_async(baton_database_check)(dialog_pks, run.sides)


async def run_bounded(coroutine, run: Run, seconds: float) -> None:
    try:
        await asyncio.wait_for(coroutine, max(seconds, 1.0))
    except TimeoutError:
        run.timed_out = True
        for side in run.sides:
            side.closing = True
            if side.receiver is not None:
                side.receiver.cancel()


# --- results ------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    sent: int
    acked: int
    delivered: int
    lost: int
    duplicated: int
    reordered: int
    msgs_per_s: float
    latency_ms: list[float]
    ack_ms: list[float]
    seconds: float

    @property
    def p50(self) -> float:
        return percentile(self.latency_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latency_ms, 99)


def summarise(run: Run) -> Result:
    messages = [m for side in run.sides for m in side.sent]
    delivered = [m for m in messages if m.delivered_at is not None]
    acked = [m for m in messages if m.acked_at is not None]
    totals = run.totals
    duplicated = totals.duplicate_frames + totals.duplicate_acks + totals.unexpected
    reordered = totals.reordered
    if run.database is not None:
        duplicated += run.database["duplicated"] + run.database["never_sent"]
        reordered += run.database["out_of_order"]
    if delivered and run.send_started is not None:
        seconds = max(m.delivered_at for m in delivered) - run.send_started
    else:
        seconds = math.nan
    return Result(
        name=run.name,
        sent=len(messages),
        acked=len(acked),
        delivered=len(delivered),
        lost=len(messages) - len(delivered),
        duplicated=duplicated,
        reordered=reordered,
        msgs_per_s=len(delivered) / seconds if delivered and seconds > 0 else 0.0,
        latency_ms=[(m.delivered_at - m.sent_at) * 1000 for m in delivered],
        ack_ms=[(m.acked_at - m.sent_at) * 1000 for m in acked],
        seconds=seconds,
    )


def describe(run: Run, result: Result, args: argparse.Namespace) -> list[str]:
    totals = run.totals
    lines = [f"# {run.name}: " + "; ".join(run.setup_notes)] if run.setup_notes else []
    offered = "" if args.max_rate else f" (offered {2 * args.dialogs / args.interval:.0f}/s)"
    lines.append(
        f"# {run.name}: {run.connected}/{len(run.sides)} sockets ready in "
        f"{run.connect_seconds:.1f} s"
        + (f", connect failures {dict(totals.connect_failures)}" if totals.connect_failures else "")
    )
    lines.append(
        f"# {run.name}: {result.sent} sent, {result.acked} acked, {result.delivered} delivered "
        f"in {result.seconds:.1f} s = {result.msgs_per_s:.1f} msgs/s{offered}; send->other side "
        f"p50 {result.p50:.1f} ms p99 {result.p99:.1f} ms "
        f"max {max(result.latency_ms, default=math.nan):.1f} ms; send->ack "
        f"p50 {percentile(result.ack_ms, 50):.1f} ms p99 {percentile(result.ack_ms, 99):.1f} ms"
    )
    lines.append(
        f"# {run.name}: lost {result.lost}, duplicated {result.duplicated} "
        f"({totals.duplicate_frames} frames, {totals.duplicate_acks} acks, "
        f"{totals.unexpected} unexpected), reordered {result.reordered}"
        + (f", sequence gaps {totals.sequence_gaps}" if run.name == "baton" else "")
        + f"; errors {dict(totals.errors) or 'none'}; closed by the server early "
        f"{dict(totals.closed_early) or 'none'}" + (" -- TIMED OUT" if run.timed_out else "")
    )
    if run.database is not None:
        db = run.database
        lines.append(
            f"# {run.name}: database holds {db['stored']} of the messages, "
            f"{db['missing']} acked ones missing, {db['duplicated']} duplicate rows, "
            f"{db['never_sent']} never sent, {db['out_of_order']} stored out of send order"
        )
    seconds = run.measured_seconds

    def share(cpu: float) -> str:
        return f"{cpu:.1f} s ({cpu / seconds * 100:.0f}%)" if seconds > 0 else f"{cpu:.1f} s"

    lines.append(
        f"# {run.name}: CPU over the {seconds:.1f} s of sending and draining (% of one core): "
        f"servers {share(run.server_cpu)}"
        + (f", redis {share(run.redis_cpu)}" if not math.isnan(run.redis_cpu) else "")
        + f", this client {share(run.client_cpu)}; {os.cpu_count()} cores shared"
    )
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialogs", type=int, default=1000)
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between a side's sends (min)"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    parser.add_argument(
        "--max-rate",
        action="store_true",
        help="send the next message as soon as the previous one is acknowledged",
    )
    parser.add_argument(
        "--dialogs-per-operator", type=int, default=5, help="Baton: dialogs per operator account"
    )
    parser.add_argument("--batch", type=int, default=50, help="sockets connecting at once")
    parser.add_argument("--processes", type=int, default=1, help="server processes per system")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="which systems to run")
    parser.add_argument("--channel-layer", choices=["pubsub", "core"], default="pubsub")
    parser.add_argument(
        "--database-url",
        help="an existing (e.g. PostgreSQL) database; default: fresh SQLite in a temp dir",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=60.0,
        help="seconds to wait for a connect, an ack, and for everything after the last send",
    )
    parser.add_argument("--timeout", type=float, default=1200.0, help="overall time limit (s)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and logs")
    parser.add_argument("--quick", action="store_true", help="10 dialogs x 5 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.dialogs, args.duration, args.timeout = 10, 5.0, min(args.timeout, 240.0)
        args.deadline = min(args.deadline, 20.0)
    args.systems = [name.strip() for name in args.systems.split(",") if name.strip()]
    if set(args.systems) - set(SYSTEMS) or not args.systems:
        parser.error(f"--systems: a comma-separated subset of {','.join(SYSTEMS)}")
    if min(args.dialogs, args.processes, args.batch, args.dialogs_per_operator) < 1:
        parser.error("--dialogs, --processes, --batch and --dialogs-per-operator must be positive")
    if args.interval <= 0 or args.duration <= 0:
        parser.error("--interval and --duration must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    limit = HardLimit("relay", args.timeout + 60).start()

    workdir = Path(tempfile.mkdtemp(prefix="baton-relay-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    redis = EmbeddedRedis()
    redis.start()
    limit.children.append(redis)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["BATON_DATABASE_NAME"] = ""  # a test-suite override must not leak in
    os.environ["BATON_CHANNEL_LAYER"] = args.channel_layer
    os.environ["REDIS_URL"] = redis.url  # this process publishes the setup's events
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")  # DEBUG off requires one

    import django

    django.setup()
    fast_password_hashing()

    rate_limit = (
        f"Baton's widget rate limit raised to {HIGH_RATE_LIMIT} frames/s (burst too)"
        if args.max_rate
        else "Baton's widget rate limit at its default (burst 20, 5 frames/s)"
    )
    pacing = (
        "each side sends as soon as its previous message is acknowledged (max rate)"
        if args.max_rate
        else f"each side sends at most one message per {args.interval} s and waits for the "
        "previous one's ack first (closed loop)"
    )
    engine = "sqlite (fresh, temp dir)" if not args.database_url else "given --database-url"
    print(
        f"# relay: {args.dialogs} dialogs x 2 sides for {args.duration:.0f} s; {pacing}; "
        f"{rate_limit}; {args.processes} server process(es) per system; systems "
        f"{','.join(args.systems)}; channel layer {args.channel_layer}; Baton database "
        f"{engine}, DEBUG=0, {args.dialogs_per_operator} dialogs per operator account; "
        f"embedded Redis; client and servers share {os.cpu_count()} cores",
        flush=True,
    )
    if args.processes > 1:
        print(
            "# peer and Baton: the processes share one port and the kernel picks the "
            "process for each connection; ceiling: a port per process"
        )

    runs: dict[str, Run] = {}
    results: dict[str, Result] = {}
    logs: list[tuple[str, DaphneServer]] = []
    try:
        for position, name in enumerate(args.systems):
            run = Run(name)
            runs[name] = run
            remaining = args.timeout - (time.monotonic() - started) - 20
            budget = remaining / (len(args.systems) - position)
            if name == "baton":
                budget = remaining  # last by default, and the slowest to set up
            servers = start_system(name, args, redis, database_url)
            pids = " ".join(str(pid) for server in servers for pid in server.pids)
            print(f"# {name}: server pid(s) {pids}", flush=True)
            logs += [(name, server) for server in servers]
            limit.children += servers
            try:
                if name == "ceiling":
                    coroutine = run_ceiling(args, servers, run)
                elif name == "peer":
                    coroutine = run_peer(args, servers, redis, run)
                else:
                    coroutine = run_baton(args, servers, redis, run)
                asyncio.run(run_bounded(coroutine, run, budget))
                if name != "ceiling":
                    left = subscriptions_left(redis.url, seconds=min(args.deadline, 30))
                    if left:
                        run.setup_notes.append(
                            f"{left} channel-layer subscriptions still open after every "
                            "socket closed"
                        )
            finally:
                for server in servers:
                    server.stop()
                redis_flush(redis)
            results[name] = summarise(run)
            for line in describe(run, results[name], args):
                print(line, flush=True)
    finally:
        redis.stop()
        for name, server in logs:
            if name != "ceiling":
                print(f"# {name} daphne :{server.port} log: {log_summary(server.output())}")
            if args.keep:
                print(f"# {name} :{server.port} log kept at {server.log.name}")
            else:
                Path(server.log.name).unlink(missing_ok=True)
        if args.keep:
            print(f"# kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(redis.directory, ignore_errors=True)

    baton = results.get("baton")
    nan = math.nan

    def ratio(other: str) -> float:
        if baton is None or other not in results or results[other].msgs_per_s <= 0:
            return nan
        return baton.msgs_per_s / results[other].msgs_per_s

    if baton is not None:
        for target in targets(args, baton, results):
            print(target)
    print(
        f"relay: dialogs={args.dialogs} "
        f"msgs_per_s={baton.msgs_per_s if baton else nan:.1f} "
        f"p50_ms={baton.p50 if baton else nan:.1f} p99_ms={baton.p99 if baton else nan:.1f} "
        f"lost={baton.lost if baton else 0} duplicated={baton.duplicated if baton else 0} "
        f"reordered={baton.reordered if baton else 0} "
        f"ceiling_ratio={ratio('ceiling'):.2f} peer_ratio={ratio('peer'):.2f}",
        flush=True,
    )
    limit.cancel()
    clean = all(
        r.lost == 0 and r.duplicated == 0 and r.reordered == 0 for r in results.values()
    ) and not any(run.timed_out or run.totals.connect_failures for run in runs.values())
    return 0 if clean else 1


def targets(args: argparse.Namespace, baton: Result, results: dict[str, Result]) -> list[str]:
    """The brief's targets, reported (never asserted)."""
    if args.max_rate:
        lines = []
        for other, wanted in (("ceiling", 1 / 3), ("peer", 1.0)):
            if other in results and results[other].msgs_per_s > 0:
                got = baton.msgs_per_s / results[other].msgs_per_s
                verdict = "met" if got >= wanted else "MISSED"
                lines.append(
                    f"# target: Baton >= {wanted:.2f} x the {other} at max rate: "
                    f"{got:.2f} x -- {verdict}"
                )
        return lines
    verdict = "met" if baton.p99 <= 100 and baton.lost == 0 else "MISSED"
    scale = "" if args.dialogs == 1000 and args.interval == 1.0 else " (target is for 1,000 x 1/s)"
    return [
        f"# target: p99 <= 100 ms and 0 lost: p99 {baton.p99:.1f} ms, "
        f"lost {baton.lost} -- {verdict}{scale}"
    ]


def start_system(name: str, args, redis: EmbeddedRedis, database_url: str) -> list:
    if name == "ceiling":
        return [ScriptServer(script="raw_relay.py").start() for _ in range(args.processes)]
    common = {
        "BATON_CHANNEL_LAYER": args.channel_layer,
        "DEBUG": "0",
    }
    if name == "peer":
        env = {**common, "DJANGO_SETTINGS_MODULE": "bench.peer_settings"}
        return [
            AsgiDaphne(
                application="bench.peer_app:application",
                redis_url=redis.url,
                extra_env=env,
                processes=args.processes,
            ).start()
        ]
    env = {
        **common,
        "DATABASE_URL": database_url,
        "BATON_DATABASE_NAME": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    if args.max_rate:
        env["BATON_WIDGET_RATE_BURST"] = HIGH_RATE_LIMIT
        env["BATON_WIDGET_RATE_PER_SECOND"] = HIGH_RATE_LIMIT
    server_env = {**os.environ, "REDIS_URL": redis.url}
    run_manage(["migrate", "--noinput"], server_env, timeout=180)
    run_manage(["load_demo"], server_env, timeout=60)
    return [DaphneServer(redis_url=redis.url, extra_env=env, processes=args.processes).start()]


def redis_flush(redis: EmbeddedRedis) -> None:
    import redis as redis_client

    with contextlib.suppress(Exception):
        redis_client.Redis.from_url(redis.url).flushall()


if __name__ == "__main__":
    sys.exit(main())
