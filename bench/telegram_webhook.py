"""Telegram webhook benchmark: N Telegram users, each writing M messages to a chat's bot,
posted as real Telegram update JSON to Baton's webhook, processed by a real Celery
worker and answered through the outbox to a fake Bot API that throws in some 429s.

Self-contained: starts the embedded Redis and Daphne (tests/servers.py) on free loopback
ports, migrates a fresh SQLite database in a temporary directory (or the database given
with --database-url), starts a Celery worker with beat the way `make run` does
(config/runner.py: prefork, --concurrency 2, --beat) and, in this process, the fake Bot
API of the test suite (tests/telegram_bridge/fake_bot_api.py). The servers and the
worker get TELEGRAM_API_URL / TELEGRAM_FILE_URL pointing at the fake and
TELEGRAM_PRIVATE_CHAT_INTERVAL=0 (--pace keeps the 1 s per private chat); the outbox
keeps Telegram's overall limit of 30 messages/s per bot (TELEGRAM_MAX_MESSAGES_PER_SECOND;
--max-per-second changes it). DEBUG=0; the webhook requests carry
X-Forwarded-Proto: https, as from the TLS proxy production runs behind.

Setup, before the clock starts: a chat with one fallback script of one step (so every
client message gets exactly one bot answer) and its TelegramBot, registered in the fake;
then one warm-up update per Daphne process is posted and answered end to end (Daphne,
the worker and python-telegram-bot's Application are loaded; users outside the
measured range).

Phase 0, the peer: the same requests (same bodies, order, concurrency and --rate) are
POSTed to a Django view on the same Daphne that parses the JSON and answers like the
webhook, storing nothing (bench/telegram_peer_urls.py; the servers run with
bench/telegram_peer_settings.py, which is config.settings plus that URL). The worker
has nothing to do then.
Phase 1, intake: every user's M updates (tests/telegram_bridge/telegram_updates.py
text_update) are POSTed in order, each after the previous one's response, with the
secret header, by one asyncio httpx client holding at most --concurrency requests in
flight (with --rate R, the k-th request of the run is not sent before k/R s, an
open-loop load such as Telegram's); users are spread over the Daphne processes. A
--replay fraction of the updates is posted a second time (Telegram's retry), later in
the same user's sequence. The worker processes and sends while this runs.
Phase 2, processing and sending: waits (at most --deadline s) until every stored update
is processed and no outbound row is pending.
429s: --floods updates, of different users and spread over their sequences, are flood
markers: just before posting one, the client tells the fake to answer the next
sendMessage to that user with 429 "retry after 1". Each one is met for certain (that
user has at least the answer to this update still to come).

The last line printed is always
    telegram_webhook: updates_per_s=.. p99_ms=.. duplicates_processed=.. sends_lost=..
        peer_ratio=..
where
  updates_per_s  distinct updates the webhook answered 200 / wall time of phase 1 (first
                 request sent to last response);
  peer_ratio     updates_per_s / the peer's (phase 0, the same figure);
  p99_ms         webhook response time over every request of phase 1, replays included;
  duplicates_processed  client messages stored more than once (chats.Message rows
                 sharing a client_msg_id "tg:<update_id>"), client messages for updates
                 never posted, and bot answers (Message rows, or outbound rows, whichever
                 is more) beyond one per distinct update, per user;
  sends_lost     outbound rows not "sent" at the end + rows marked sent that the fake
                 never answered successfully (their chat/message id does not match a
                 successful sendMessage) + answers missing altogether (fewer outbound
                 rows than distinct stored updates, per user).
The lines starting with # before it give the details; "# details:" carries more
key=value figures (process_p99_ms: from posting an update to the fake receiving the
bot's answer to it, matched per user in order).

Usage (from the repository root):
    .venv/bin/python bench/telegram_webhook.py [--clients 200] [--messages 10]
        [--concurrency 50] [--replay 0.2] [--floods 30] [--processes 1]
        [--database-url URL] [--pace] [--max-per-second 30] [--rate R] [--quick]
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
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

import httpx  # noqa: E402
import redis  # noqa: E402

from bench.harness import HardLimit, cpu_seconds, log_summary, percentile, run_manage  # noqa: E402
from tests.servers import DaphneServer, EmbeddedRedis  # noqa: E402
from tests.telegram_bridge.fake_bot_api import FakeBotApi  # noqa: E402
from tests.telegram_bridge.telegram_updates import text_update  # noqa: E402

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
PEER_PREFIX = "bench/telegram-peer/"  # as in bench/telegram_peer_urls.py
# Telegram user (= private chat) ids: measured users from USER_BASE, warm-up users below
USER_BASE = 6_100_000_000
WARM_UP_BASE = 6_000_000_000
BOT_TELEGRAM_ID = 7_100_000_001
ANSWER = "Thank you, your message has reached us. Someone will read it soon."
# no command, no keyword: the chat has nothing but its fallback script
TEXTS = (
    "Do you ship to Norway?",
    "Can I pay when the parcel arrives?",
    "Is the shop open on Sundays?",
    "My order number is 12345, where is it?",
    "Thanks!",
)


# --- the Celery worker --------------------------------------------------------------


class ProcessGroup(subprocess.Popen):
    """A child in a session of its own: kill() takes its whole process group (a prefork
    worker's pool children too), so HardLimit leaves nothing behind."""

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)


class CeleryWorker:
    """`celery -A config worker --beat` as config/runner.py starts it, logging to a file."""

    def __init__(self, *, env: dict[str, str], workdir: Path, pool: str, concurrency: int):
        self.env = env
        self.workdir = workdir
        self.pool = pool
        self.concurrency = concurrency
        self.process: ProcessGroup | None = None
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the child's stdout
            prefix="baton-celery-", suffix=".log", delete=False
        )

    def start(self) -> CeleryWorker:
        self.process = ProcessGroup(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--beat",
                "--loglevel",
                "INFO",
                "--pool",
                self.pool,
                "--concurrency",
                str(self.concurrency),
                "--queues",
                "celery,telegram",  # Telegram sends have a queue of their own
                "--schedule",
                str(self.workdir / "celerybeat-schedule"),
                "--hostname",
                f"bench-{secrets.token_hex(3)}@%h",
            ],
            env=self.env,
            cwd=BASE_DIR,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def pids(self) -> list[int]:
        """The worker and its pool processes (prefork children, beat)."""
        if self.process is None or self.process.poll() is not None:
            return []
        found = [self.process.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(stat.parent.name))
        return found

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # warm shutdown: the running tasks finish
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")


CELERY_LINE = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b[/ ]?(\S*?)\]?:? (.{0,60})")


def celery_log_summary(log: str) -> str:
    found = Counter()
    for line in log.splitlines():
        match = CELERY_LINE.search(line)
        if match:
            found[f"{match[1]} {match[3]}"] += 1
    tasks = Counter(re.findall(r"Task (telegram_bridge\.\w+|handoff\.\w+)\[[^\]]+\] received", log))
    parts = [f"tasks received {dict(tasks) or 'none'}"]
    parts += [f"{count}x {what!r}" for what, count in found.most_common(6)]
    return ", ".join(parts)


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


# --- the fake Bot API's side ----------------------------------------------------------


def answers_at_fake(fake: FakeBotApi, *, failed: bool = False) -> list:
    """sendMessage calls to measured users (successful ones, or the failed ones)."""
    return [
        call
        for call in fake.calls("sendMessage")
        if call.failed == failed and int(call.params.get("chat_id") or 0) >= USER_BASE
    ]


# --- setup ----------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    bot_id: int
    token: str
    webhook_key: str
    webhook_secret: str
    chat_id: int


def world_create(fake: FakeBotApi) -> World:
    """A chat whose only script is a one-step fallback, and its bot, in the fake too."""
    from django.db import connections

    from chats.enums import HeadsetMode, ScriptKind
    from chats.models import Chat, Script, Step
    from handoff.models import HandoffSettings
    from telegram_bridge.models import TelegramBot

    tag = secrets.token_hex(4)
    chat = Chat.objects.create(
        name=f"Telegram bench {tag}", language="en", headset_mode=HeadsetMode.ALWAYS
    )
    HandoffSettings.objects.get_or_create(chat=chat)
    script = Script.objects.create(chat=chat, name="Fallback", kind=ScriptKind.FALLBACK)
    Step.objects.create(script=script, position=0, text=ANSWER)
    token = f"{BOT_TELEGRAM_ID}:bench-{tag}-{secrets.token_hex(8)}"
    bot = TelegramBot.objects.create(
        chat=chat, token=token, telegram_id=BOT_TELEGRAM_ID, username=f"baton_bench_{tag}_bot"
    )
    fake.add_bot(token, bot_id=BOT_TELEGRAM_ID, username=bot.username)
    connections.close_all()
    return World(bot.pk, token, bot.webhook_key, bot.webhook_secret, chat.pk)


# --- phase 1: intake --------------------------------------------------------------------


@dataclass
class Post:
    update_id: int
    user: int
    replay: bool
    floods: int = 0  # 429s armed for this user's next answers just before posting
    started: float = 0.0
    finished: float | None = None
    status: int | None = None
    duplicate: bool | None = None
    error: str = ""


@dataclass
class User:
    index: int
    telegram_id: int
    url: str
    peer_url: str
    updates: list[int] = field(default_factory=list)  # distinct, in order
    bodies: dict[int, bytes] = field(default_factory=dict)
    sequence: list[Post] = field(default_factory=list)  # originals and replays, as posted


def plan(args: argparse.Namespace, servers: list[DaphneServer], world: World) -> list[User]:
    rng = random.Random(args.seed)
    users = []
    update_id = 1_000
    for index in range(args.clients):
        server = servers[index % len(servers)]
        user = User(
            index,
            USER_BASE + index,
            f"{server.http_url}/telegram/webhook/{world.webhook_key}/",
            f"{server.http_url}/{PEER_PREFIX}{world.webhook_key}/",
        )
        for number in range(args.messages):
            update_id += 1
            text = f"{TEXTS[(index + number) % len(TEXTS)]} ({index}/{number})"
            payload = text_update(
                update_id, user_id=user.telegram_id, text=text, first_name=f"User{index}"
            )
            user.updates.append(update_id)
            user.bodies[update_id] = json.dumps(payload).encode()
            user.sequence.append(Post(update_id, index, replay=False))
        users.append(user)
    # different users, and updates further down their sequences as the count goes on
    for index in range(args.floods):
        user = users[(2 * index + 1) * args.clients // (2 * args.floods) % args.clients]
        user.sequence[index * args.messages // args.floods].floods += 1
    every = [(user, update) for user in users for update in user.updates]
    for user, update in rng.sample(every, round(len(every) * args.replay)):
        first = next(i for i, post in enumerate(user.sequence) if post.update_id == update)
        at = rng.randint(first + 1, len(user.sequence))
        user.sequence.insert(at, Post(update, user.index, replay=True))
    return users


def webhook_headers(world: World) -> dict[str, str]:
    return {
        SECRET_HEADER: world.webhook_secret,
        "Content-Type": "application/json",
        "X-Forwarded-Proto": "https",
    }


async def post_one(http: httpx.AsyncClient, url: str, body: bytes, post: Post, headers) -> None:
    post.started = time.monotonic()
    try:
        response = await http.post(url, content=body, headers=headers)
        post.finished = time.monotonic()
        post.status = response.status_code
        if response.status_code == 200:
            post.duplicate = bool(response.json().get("duplicate"))
        else:
            post.error = response.text[:80]
    except (httpx.HTTPError, ValueError) as error:
        post.finished = time.monotonic()
        post.error = type(error).__name__


async def post_all(
    args, users: list[User], world: World, *, peer: bool, fake: FakeBotApi | None = None
) -> tuple[float, float, list[Post]]:
    """Every user's sequence, each user's requests in order; returns (first request
    sent, last response, the posts). With --rate the k-th request (users taking turns)
    waits for its slot; 429s are armed only for the real webhook (fake given)."""
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    semaphore = asyncio.Semaphore(args.concurrency)
    headers = webhook_headers(world)
    # the k-th request of the run (users taking turns, replays included) has slot k
    turns = sorted(
        (position, user.index) for user in users for position in range(len(user.sequence))
    )
    slot_of = {turn: number for number, turn in enumerate(turns)}
    started = time.monotonic()
    posts: list[Post] = []
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:

        async def one_user(user: User) -> None:
            for position, planned in enumerate(user.sequence):
                post = planned if not peer else Post(planned.update_id, user.index, planned.replay)
                posts.append(post)
                if args.rate:
                    slot = slot_of[(position, user.index)] / args.rate
                    await asyncio.sleep(max(0.0, started + slot - time.monotonic()))
                if post.floods and fake is not None:
                    fake.fail_flood(
                        "sendMessage", retry_after=1, times=post.floods, chat_id=user.telegram_id
                    )
                url = user.peer_url if peer else user.url
                async with semaphore:
                    await post_one(http, url, user.bodies[post.update_id], post, headers)

        await asyncio.gather(*(one_user(user) for user in users))
    last = max((p.finished for p in posts if p.finished), default=started)
    return started, last, posts


async def intake(args, users: list[User], world: World, fake: FakeBotApi) -> tuple[float, float]:
    """Phase 1; returns (first request sent, last response) in monotonic time."""
    started, last, _posts = await post_all(args, users, world, peer=False, fake=fake)
    return started, last


async def warm_up(servers: list[DaphneServer], world: World, fake: FakeBotApi) -> list[str]:
    """One update per Daphne process, from users outside the measured range, answered
    end to end; returns problems (empty when all went through)."""
    problems = []
    headers = webhook_headers(world)
    async with httpx.AsyncClient(timeout=60) as http:
        for number, server in enumerate(servers):
            user_id = WARM_UP_BASE + number
            payload = text_update(10 + number, user_id=user_id, text="Hello")
            response = await http.post(
                f"{server.http_url}/telegram/webhook/{world.webhook_key}/",
                content=json.dumps(payload).encode(),
                headers=headers,
            )
            if response.status_code != 200:
                problems.append(f":{server.port} answered {response.status_code}")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        answered = {int(c.params["chat_id"]) for c in fake.succeeded("sendMessage")}
        if all(WARM_UP_BASE + n in answered for n in range(len(servers))):
            return problems
        await asyncio.sleep(0.2)
    problems.append("the warm-up updates were not answered within 90 s")
    return problems


# --- phase 2: processing and sending ----------------------------------------------------


def pipeline_state(bot_id: int) -> dict:
    from django.db.models import Count

    from telegram_bridge.models import OutboundMessage, TelegramUpdate

    updates = TelegramUpdate.objects.filter(bot_id=bot_id, telegram_chat_id__gte=USER_BASE)
    rows = (
        OutboundMessage.objects.filter(bot_id=bot_id, telegram_chat_id__gte=USER_BASE)
        .values("status")
        .annotate(count=Count("id"))
    )
    statuses = {row["status"]: row["count"] for row in rows}
    return {
        "stored": updates.count(),
        "unprocessed": updates.filter(processed_at__isnull=True).count(),
        "rows": sum(statuses.values()),
        "pending": statuses.get("pending", 0),
        "sent": statuses.get("sent", 0),
        "statuses": statuses,
    }


def progress_line(
    world: World, fake: FakeBotApi, broker: redis.Redis, users: list[User], t0: float
) -> str:
    state = pipeline_state(world.bot_id)
    posted = sum(1 for user in users for post in user.sequence if post.finished is not None)
    return (
        f"# t={time.monotonic() - t0:6.1f}s posted={posted} stored={state['stored']} "
        f"unprocessed={state['unprocessed']} outbound={state['rows']} "
        f"pending={state['pending']} sent={state['sent']} "
        f"answers_at_fake={len(answers_at_fake(fake))} "
        f"429s={len(answers_at_fake(fake, failed=True))} "
        f"queued={broker.llen('celery')} "
        f"redis_clients={broker.info('clients')['connected_clients']}"
    )


class Progress(threading.Thread):
    """Prints a progress line every --progress seconds through both phases (queued: tasks
    waiting in Celery's queue; redis_clients: connections to Redis)."""

    def __init__(self, args, world, fake, broker, users, t0) -> None:
        super().__init__(name="progress", daemon=True)
        self.line = partial(progress_line, world, fake, broker, users, t0)
        self.interval = args.progress
        self.stopping = threading.Event()

    def run(self) -> None:
        from django.db import connections

        while not self.stopping.wait(self.interval):
            print(self.line(), flush=True)
        connections.close_all()

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


def wait_settled(args, world: World, accepted: int) -> bool:
    """Phase 2: until every stored update is processed and no row is pending (seen twice
    in a row), or --deadline. True when settled."""
    deadline = time.monotonic() + args.deadline
    quiet = 0
    while quiet < 2:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
        state = pipeline_state(world.bot_id)
        settled = (
            state["stored"] >= accepted and state["unprocessed"] == 0 and state["pending"] == 0
        )
        quiet = quiet + 1 if settled else 0
    return True


# --- checks -------------------------------------------------------------------------------


def database_check(world: World, users: list[User]) -> dict:
    """What the database holds for the measured users after the run."""
    from django.db import connections
    from django.db.models import Count

    from chats.models import Message
    from telegram_bridge.models import OutboundMessage, TelegramUpdate

    by_telegram_id = {user.telegram_id: user for user in users}
    updates = TelegramUpdate.objects.filter(bot_id=world.bot_id, telegram_chat_id__gte=USER_BASE)
    stored_per_user = Counter(
        dict(
            updates.values("telegram_chat_id")
            .annotate(n=Count("id"))
            .values_list("telegram_chat_id", "n")
        )
    )
    update_errors = Counter(
        error[:60] for error in updates.exclude(error="").values_list("error", flat=True)
    )
    lags = [
        (processed - received).total_seconds() * 1000
        for received, processed in updates.filter(processed_at__isnull=False).values_list(
            "received_at", "processed_at"
        )
    ]

    messages = Message.objects.filter(
        dialog__chat_id=world.chat_id,
        dialog__client__external_id__in=[str(user.telegram_id) for user in users],
    )
    posted = {f"tg:{update}" for user in users for update in user.updates}
    client_copies = (
        messages.filter(author_kind="client").values("client_msg_id").annotate(n=Count("id"))
    )
    client_duplicates = 0
    unexpected = 0
    client_stored = 0
    for row in client_copies:
        client_stored += row["n"]
        client_duplicates += row["n"] - 1
        if row["client_msg_id"] not in posted:
            unexpected += row["n"]
    bot_per_user = Counter(
        dict(
            messages.filter(author_kind="bot")
            .values("dialog__client__external_id")
            .annotate(n=Count("id"))
            .values_list("dialog__client__external_id", "n")
        )
    )
    dialogs_per_user = Counter(
        dict(
            messages.values("dialog__client__external_id")
            .annotate(n=Count("dialog", distinct=True))
            .values_list("dialog__client__external_id", "n")
        )
    )

    outbound = OutboundMessage.objects.filter(bot_id=world.bot_id, telegram_chat_id__gte=USER_BASE)
    rows_per_user: dict[int, list[tuple]] = defaultdict(list)
    send_lags = []
    for chat, status, message_id, created, sent in outbound.values_list(
        "telegram_chat_id", "status", "telegram_message_id", "created_at", "sent_at"
    ):
        rows_per_user[chat].append((status, message_id))
        if sent is not None:
            send_lags.append((sent - created).total_seconds() * 1000)
    connections.close_all()
    return {
        "by_telegram_id": by_telegram_id,
        "stored_per_user": stored_per_user,
        "update_errors": update_errors,
        "process_lags": lags,
        "client_stored": client_stored,
        "client_duplicates": client_duplicates,
        "unexpected": unexpected,
        "bot_per_user": bot_per_user,
        "dialogs_per_user": dialogs_per_user,
        "rows_per_user": rows_per_user,
        "send_lags": send_lags,
    }


def verdict(db: dict, fake: FakeBotApi, users: list[User]) -> dict:
    answers_by_user: dict[int, list] = defaultdict(list)
    for call in answers_at_fake(fake):
        answers_by_user[int(call.params["chat_id"])].append(call)
    duplicates = db["client_duplicates"] + db["unexpected"]
    not_sent = phantom = missing = extra_sends = wrong_text = 0
    extra_answers = 0
    statuses = Counter()
    for user in users:
        expected = db["stored_per_user"].get(user.telegram_id, 0)
        rows = db["rows_per_user"].get(user.telegram_id, [])
        bots = db["bot_per_user"].get(str(user.telegram_id), 0)
        extra_answers += max(0, bots - expected, len(rows) - expected)
        answers = answers_by_user.get(user.telegram_id, [])
        wrong_text += sum(1 for call in answers if call.params.get("text") != ANSWER)
        # the fake numbers a chat's messages 1, 2, ... on success only
        fake_ids = set(range(1, len(answers) + 1))
        sent_ids = Counter()
        for status, message_id in rows:
            statuses[status] += 1
            if status != "sent":
                not_sent += 1
            elif message_id not in fake_ids or sent_ids[message_id]:
                phantom += 1
            sent_ids[message_id] += status == "sent"
        missing += max(0, expected - len(rows))
        extra_sends += max(0, len(answers) - sum(sent_ids.values()))
    duplicates += extra_answers
    return {
        "duplicates_processed": duplicates,
        "extra_answers": extra_answers,
        "sends_lost": not_sent + phantom + missing,
        "not_sent": not_sent,
        "phantom": phantom,
        "missing": missing,
        "sends_duplicated": extra_sends,
        "wrong_text": wrong_text,
        "statuses": dict(statuses),
        "answers_by_user": answers_by_user,
    }


def process_latencies(users: list[User], answers_by_user: dict[int, list]) -> list[float]:
    """From posting an update (its first post) to the fake receiving the bot's answer to
    it: a user's k-th answer answers its k-th update (one processor and one sender per
    chat, both in update order)."""
    latencies = []
    for user in users:
        first_post = {}
        for post in user.sequence:
            first_post.setdefault(post.update_id, post.started)
        answers = sorted(answers_by_user.get(user.telegram_id, []), key=lambda call: call.at)
        for update, call in zip(user.updates, answers, strict=False):
            latencies.append((call.at - first_post[update]) * 1000)
    return latencies


# --- the run --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200, help="Telegram users")
    parser.add_argument("--messages", type=int, default=10, help="updates per user")
    parser.add_argument(
        "--concurrency", type=int, default=50, help="webhook requests in flight at most"
    )
    parser.add_argument(
        "--replay", type=float, default=0.2, help="fraction of updates posted a second time"
    )
    parser.add_argument(
        "--floods",
        type=int,
        default=30,
        help="429s (retry_after 1) injected on sendMessage, one per chosen update",
    )
    parser.add_argument("--processes", type=int, default=1, help="Daphne processes")
    parser.add_argument("--pool", choices=["prefork", "threads", "solo"], default="prefork")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery concurrency")
    parser.add_argument("--channel-layer", choices=["pubsub", "core"], default="pubsub")
    parser.add_argument(
        "--database-url",
        help="an existing (e.g. PostgreSQL) database; default: fresh SQLite in a temp dir",
    )
    parser.add_argument(
        "--pace",
        action="store_true",
        help="keep TELEGRAM_PRIVATE_CHAT_INTERVAL at its default (1 s per private chat)",
    )
    parser.add_argument(
        "--max-per-second",
        type=float,
        default=None,
        help="TELEGRAM_MAX_MESSAGES_PER_SECOND for the worker (default: the app's, 30)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests/s to send at, open loop (default 0: as fast as --concurrency allows)",
    )
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds to wait in phase 2")
    parser.add_argument("--progress", type=float, default=5.0, help="seconds between reports")
    parser.add_argument("--timeout", type=float, default=900.0, help="overall time limit (s)")
    parser.add_argument("--seed", type=int, default=1, help="which updates are replayed")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and logs")
    parser.add_argument(
        "--quick", action="store_true", help="10 users x 3 updates, 2 injected 429s"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.messages, args.floods = 10, 3, 2
        args.timeout, args.deadline = min(args.timeout, 240.0), min(args.deadline, 90.0)
        args.progress = min(args.progress, 2.0)
    if min(args.clients, args.messages, args.concurrency, args.processes) < 1:
        parser.error("--clients, --messages, --concurrency and --processes must be positive")
    if not 0 <= args.replay <= 1 or args.floods < 0:
        parser.error("--replay is a fraction (0..1) and --floods not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    limit = HardLimit("telegram_webhook", args.timeout + 60).start()

    workdir = Path(tempfile.mkdtemp(prefix="baton-telegram-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    redis_server = EmbeddedRedis()
    redis_server.start()
    limit.children.append(redis_server)
    fake = FakeBotApi().start()
    telegram_env = {
        "TELEGRAM_API_URL": fake.base_url,
        "TELEGRAM_FILE_URL": fake.base_file_url,
    }
    if not args.pace:
        telegram_env["TELEGRAM_PRIVATE_CHAT_INTERVAL"] = "0"
    if args.max_per_second is not None:
        telegram_env["TELEGRAM_MAX_MESSAGES_PER_SECOND"] = str(args.max_per_second)
    server_env = {
        "DATABASE_URL": database_url,
        "BATON_DATABASE_NAME": "",  # a test-suite override must not leak in
        "BATON_CHANNEL_LAYER": args.channel_layer,
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "bench.telegram_peer_settings",
        "REDIS_URL": redis_server.url,
        **telegram_env,
    }
    os.environ.update(server_env)
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")  # DEBUG off requires one

    import django

    django.setup()

    servers: list[DaphneServer] = []
    worker: CeleryWorker | None = None
    users: list[User] = []
    world: World | None = None
    progress: Progress | None = None
    phase1 = (math.nan, math.nan)
    settled = False
    cpu = {}
    warm_problems: list[str] = []
    peer_per_s = math.nan
    try:
        run_manage(["migrate", "--noinput"], dict(os.environ), timeout=180)
        world = world_create(fake)
        for _ in range(args.processes):
            server = DaphneServer(redis_url=redis_server.url, extra_env=server_env)
            limit.children.append(server)
            servers.append(server.start())
        worker = CeleryWorker(
            env={**os.environ},
            workdir=workdir,
            pool=args.pool,
            concurrency=args.worker_concurrency,
        )
        limit.children.append(worker)
        worker.start()
        engine = "sqlite (fresh, temp dir)" if not args.database_url else "given --database-url"
        print(
            f"# telegram_webhook: {args.clients} users x {args.messages} updates, "
            f"{args.replay:.0%} posted twice, at most {args.concurrency} requests in flight; "
            f"{args.processes} Daphne process(es) (pids "
            f"{' '.join(str(s.process.pid) for s in servers)}), Celery worker pool "
            f"{args.pool} x{args.worker_concurrency} with beat (pid {worker.process.pid}); "
            f"database {engine}; embedded Redis; fake Bot API in this process; DEBUG=0; "
            f"client, fake and servers share {os.cpu_count()} cores (load average "
            f"{os.getloadavg()[0]:.1f} at the start)",
            flush=True,
        )
        print(
            f"# outbox: TELEGRAM_MAX_MESSAGES_PER_SECOND="
            f"{telegram_env.get('TELEGRAM_MAX_MESSAGES_PER_SECOND', '30 (default)')}, "
            f"TELEGRAM_PRIVATE_CHAT_INTERVAL="
            f"{telegram_env.get('TELEGRAM_PRIVATE_CHAT_INTERVAL', '1 (default, --pace)')}; "
            f"{args.floods} 429s (retry_after 1) "
            "injected on sendMessage, on different users spread over their sequences",
            flush=True,
        )
        warm_problems = asyncio.run(warm_up(servers, world, fake))
        if warm_problems:
            print(f"# warm-up problems: {'; '.join(warm_problems)}", flush=True)
        users = plan(args, servers, world)
        peer_started, peer_last, peer_posts = asyncio.run(post_all(args, users, world, peer=True))
        peer_seconds = peer_last - peer_started
        peer_accepted = len({post.update_id for post in peer_posts if post.status == 200})
        peer_per_s = peer_accepted / peer_seconds if peer_seconds > 0 else math.nan
        peer_ms = [
            (post.finished - post.started) * 1000 for post in peer_posts if post.status is not None
        ]
        peer_errors = Counter(
            f"{post.status} {post.error}".strip() for post in peer_posts if post.status != 200
        )
        print(
            f"# peer (phase 0, a Django view storing nothing, same Daphne): "
            f"{len(peer_posts)} requests in {peer_seconds:.1f} s = "
            f"{len(peer_ms) / peer_seconds if peer_seconds > 0 else math.nan:.1f} requests/s, "
            f"{peer_per_s:.1f} distinct updates/s; response p50 {percentile(peer_ms, 50):.1f} "
            f"ms p99 {percentile(peer_ms, 99):.1f} ms; errors {dict(peer_errors) or 'none'}",
            flush=True,
        )
        daphne_pids = [server.process.pid for server in servers]
        cpu["daphne"] = cpu_of(daphne_pids)
        cpu["worker"] = cpu_of(worker.pids())
        cpu["bench"] = cpu_seconds(os.getpid())
        broker = redis.Redis.from_url(redis_server.url)
        progress = Progress(args, world, fake, broker, users, time.monotonic())
        progress.start()
        remaining = args.timeout - (time.monotonic() - started) - 30
        try:
            phase1 = asyncio.run(asyncio.wait_for(intake(args, users, world, fake), remaining))
        except TimeoutError:
            print("# phase 1 did not finish within the time limit", flush=True)
        cpu["daphne"] = cpu_of(daphne_pids) - cpu["daphne"]
        posts = [post for user in users for post in user.sequence]
        accepted = len({p.update_id for p in posts if p.status == 200})
        print(
            f"# phase 1 done in {phase1[1] - phase1[0]:.1f} s: {len(posts)} requests, "
            f"{accepted} distinct updates accepted; the worker is still at it",
            flush=True,
        )
        settled = wait_settled(args, world, accepted)
        print(progress.line(), flush=True)
        cpu["worker"] = cpu_of(worker.pids()) - cpu["worker"]
        cpu["bench"] = cpu_seconds(os.getpid()) - cpu["bench"]
    finally:
        if progress is not None:
            progress.stop()
        if worker is not None:
            worker.stop()
        for server in servers:
            server.stop()
        redis_server.stop()
        fake.stop()

    # --- figures
    posts = [post for user in users for post in user.sequence]
    answered = [p for p in posts if p.finished is not None and p.status is not None]
    webhook_ms = [(p.finished - p.started) * 1000 for p in answered]
    accepted = {p.update_id for p in posts if p.status == 200}
    planned = args.clients * args.messages
    phase1_seconds = phase1[1] - phase1[0]
    updates_per_s = len(accepted) / phase1_seconds if phase1_seconds > 0 else 0.0
    errors = Counter(f"{p.status} {p.error}".strip() for p in posts if p.status != 200)
    replay_stored = sum(1 for p in posts if p.replay and p.status == 200 and not p.duplicate)
    original_duplicate = sum(1 for p in posts if not p.replay and p.status == 200 and p.duplicate)

    db = database_check(world, users) if world is not None else None
    result = verdict(db, fake, users) if db is not None else None
    if result is None:
        result = {"duplicates_processed": 0, "sends_lost": planned, "answers_by_user": {}}
    answers = [c for calls in result["answers_by_user"].values() for c in calls]
    process_ms = process_latencies(users, result["answers_by_user"])
    flood_calls = answers_at_fake(fake, failed=True)
    floods_hit = len(flood_calls)
    flood_window = (
        f" (t={min(c.at for c in flood_calls) - phase1[0]:.0f}.."
        f"{max(c.at for c in flood_calls) - phase1[0]:.0f} s)"
        if flood_calls
        else ""
    )
    if answers:
        first_answer, last_answer = min(c.at for c in answers), max(c.at for c in answers)
        sends_per_s = len(answers) / (last_answer - first_answer) if len(answers) > 1 else 0.0
        end_to_end_per_s = len(answers) / (last_answer - phase1[0])
    else:
        last_answer, sends_per_s, end_to_end_per_s = math.nan, 0.0, 0.0

    print(
        f"# intake: {len(posts)} requests ({len(posts) - planned} replays) in "
        f"{phase1_seconds:.1f} s = {len(answered) / phase1_seconds:.1f} requests/s; "
        f"{len(accepted)}/{planned} distinct updates accepted; response p50 "
        f"{percentile(webhook_ms, 50):.1f} ms p99 {percentile(webhook_ms, 99):.1f} ms max "
        f"{max(webhook_ms, default=math.nan):.1f} ms; errors {dict(errors) or 'none'}; "
        f"replays stored again {replay_stored}, originals called duplicate {original_duplicate}"
        + (
            f"; Daphne CPU {cpu['daphne']:.1f} s ({cpu['daphne'] / len(posts) * 1000:.1f} ms "
            "a request)"
            if "daphne" in cpu and posts
            else ""
        )
    )
    if db is not None:
        print(
            f"# processing: {sum(db['stored_per_user'].values())} updates stored, "
            f"receive->processed p50 {percentile(db['process_lags'], 50):.0f} ms p99 "
            f"{percentile(db['process_lags'], 99):.0f} ms; update errors "
            f"{dict(db['update_errors']) or 'none'}; {db['client_stored']} client messages "
            f"stored ({db['client_duplicates']} duplicate, {db['unexpected']} never posted), "
            f"{sum(db['bot_per_user'].values())} bot answers, dialogs per user "
            f"{dict(Counter(db['dialogs_per_user'].values())) or 'none'}"
            + (
                f"; worker CPU {cpu['worker']:.1f} s ({cpu['worker'] / planned * 1000:.1f} ms "
                f"an update, sending included); this process (client + fake) CPU "
                f"{cpu['bench']:.1f} s"
                if "bench" in cpu
                else ""
            )
        )
        print(
            f"# sending: outbound rows {result['statuses'] or 'none'}; enqueued->sent p50 "
            f"{percentile(db['send_lags'], 50):.0f} ms p99 {percentile(db['send_lags'], 99):.0f} "
            f"ms; {len(answers)} answers at the fake at {sends_per_s:.1f}/s (first to last), "
            f"{end_to_end_per_s:.1f}/s from the first post; {floods_hit} 429s answered"
            f"{flood_window}; "
            f"not sent {result['not_sent']}, marked sent but not at the fake "
            f"{result['phantom']}, never written {result['missing']}, sent twice "
            f"{result['sends_duplicated']}, wrong text {result['wrong_text']}"
        )
    print(
        f"# end to end: post->answer at the fake p50 {percentile(process_ms, 50):.0f} ms p99 "
        f"{percentile(process_ms, 99):.0f} ms max {max(process_ms, default=math.nan):.0f} ms"
        + ("" if settled else f" -- NOT SETTLED within {args.deadline:g} s")
    )
    for server in servers:
        print(f"# daphne :{server.port} log: {log_summary(server.output())}")
    if worker is not None:
        print(f"# celery log: {celery_log_summary(worker.output())}")
    if args.keep:
        kept = [server.log.name for server in servers]
        kept += [worker.log.name] if worker is not None else []
        print(f"# kept {workdir} and logs {' '.join(kept)}")
    else:
        for server in servers:
            Path(server.log.name).unlink(missing_ok=True)
        if worker is not None:
            Path(worker.log.name).unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
    shutil.rmtree(redis_server.directory, ignore_errors=True)

    print(
        f"# details: requests_per_s={len(answered) / phase1_seconds:.1f} "
        f"p50_ms={percentile(webhook_ms, 50):.1f} "
        f"process_p50_ms={percentile(process_ms, 50):.1f} "
        f"process_p99_ms={percentile(process_ms, 99):.1f} sends_per_s={sends_per_s:.1f} "
        f"retries_429={floods_hit} sends_duplicated={result.get('sends_duplicated', 0)} "
        f"not_accepted={planned - len(accepted)} settled={int(settled)}"
    )
    print(
        f"telegram_webhook: updates_per_s={updates_per_s:.1f} "
        f"p99_ms={percentile(webhook_ms, 99):.1f} "
        f"duplicates_processed={result['duplicates_processed']} "
        f"sends_lost={result['sends_lost']} "
        f"peer_ratio={updates_per_s / peer_per_s if peer_per_s else math.nan:.2f}",
        flush=True,
    )
    limit.cancel()
    ok = (
        settled
        and not warm_problems
        and len(accepted) == planned
        and result["duplicates_processed"] == 0
        and result["sends_lost"] == 0
        and result.get("sends_duplicated", 0) == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
