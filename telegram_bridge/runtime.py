"""One asyncio event loop per process for everything that talks to Telegram.

python-telegram-bot is asyncio code with an HTTP connection pool bound to the loop
that opened it. Running it with `asyncio.run()` in each Celery task leaves the bot's
pool on a closed loop ("Event loop is closed" on the next task). Instead a daemon
thread runs one loop for the process's lifetime, each bot's Application lives on it,
and synchronous code (Celery tasks, admin actions) submits coroutines to it and waits.
A forked child (Celery's prefork pool) starts its own loop on first use.

Each bot gets one rate-limited `ExtBot` on the loop (`sender`), shared by the outbox
and by answering callback queries: no python-telegram-bot Application is built, since
updates are routed by telegram_bridge.handlers without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TypeVar

from aiolimiter import AsyncLimiter
from django.conf import settings
from telegram import Bot
from telegram.ext import BaseRateLimiter, ExtBot
from telegram.request import HTTPXRequest

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0


class _Call:
    """A call in the limiter's window: when it was let go (or its turn reserved) and
    when its answer came."""

    __slots__ = ("end", "start", "started")

    def __init__(self, start: float, started: bool = True) -> None:
        self.start = start
        self.started = started
        self.end: float | None = None


# the turn a task reserved for its next call (SendRateLimiter.reserve)
_reserved: contextvars.ContextVar[_Call | None] = contextvars.ContextVar(
    "telegram_reserved_call", default=None
)


class SendRateLimiter(BaseRateLimiter[None]):
    """Telegram's documented flood limits: at most TELEGRAM_MAX_MESSAGES_PER_SECOND
    calls with a chat in any one second, and 20 a minute per group.

    The second is a sliding window over the last calls' departures. A call's departure
    is when it was let go, or later if its answer came late: its answer's instant less
    the quickest round trip seen lately. So a call held up after it was let go (the
    process stalled: CPU, the GIL) still counts from when it really left, and the calls
    after it do not press against it at Telegram's end. The outbox spaces its calls
    slots apart before they get here (sending.BotPace), so this window rarely waits: it
    is the hard cap, and calls it holds back go one after another, never in a burst (a
    burst would come back a second later as its calls leave the window, and again
    after). Unlike a leaky bucket (python-telegram-bot's AIORateLimiter), it does not
    keep for the rest of the run every delay a slow database write put in front of a
    call. A 429 is not retried here: the outbox stores `retry_after` as a deadline."""

    def __init__(self, per_second: float, group_per_minute: float) -> None:
        self._limit = max(1, round(per_second))
        self._period = self._limit / per_second
        self._spacing = 0.5 / per_second
        self._calls: deque[_Call] = deque(maxlen=self._limit)
        self._round_trips: deque[float] = deque(maxlen=64)
        self._lock: asyncio.Lock | None = None
        self._group_per_minute = group_per_minute
        self._groups: dict[int | str, AsyncLimiter] = {}

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def _departure(self, call: _Call) -> float | None:
        if not call.started:
            return call.start  # reserved and not (yet) made: counts from its turn
        if call.end is None:
            return None  # under way for a whole period: wait for its answer
        quickest = min(self._round_trips, default=0.0)
        return max(call.start, call.end - quickest)

    async def reserve(self) -> None:
        """Wait for the next call's turn under the limit and reserve it for the calling
        task's next call, which then goes without waiting. The outbox reserves before it
        marks a broadcast recipient as being sent, so a recipient is never marked while
        its call still waits here (a worker killed then would leave it ambiguous)."""
        unused = _reserved.get()
        if unused is not None:
            unused.started = False  # the task did not make its call
        _reserved.set(await self._window(started=False))

    async def _window(self, started: bool = True) -> _Call:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # first come, first served
            while self._calls:
                now = time.monotonic()
                wait = self._calls[-1].start + self._spacing - now
                if len(self._calls) == self._limit:
                    departure = self._departure(self._calls[0])
                    wait = max(wait, 0.005 if departure is None else departure + self._period - now)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            call = _Call(time.monotonic(), started)
            self._calls.append(call)
            return call

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        chat_id = data.get("chat_id")
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)
        if (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str):
            group = self._groups.get(chat_id)
            if group is None:
                group = self._groups[chat_id] = AsyncLimiter(self._group_per_minute, 60)
            await group.acquire()
        if chat_id is None:
            return await callback(*args, **kwargs)
        call = _reserved.get()
        if call is not None:  # its turn came before: it goes now
            _reserved.set(None)
            call.start, call.started = max(call.start, time.monotonic()), True
        else:
            call = await self._window()
        try:
            return await callback(*args, **kwargs)
        finally:
            call.end = time.monotonic()
            self._round_trips.append(call.end - call.start)


def rate_limiter() -> SendRateLimiter:
    return SendRateLimiter(
        settings.TELEGRAM_MAX_MESSAGES_PER_SECOND, settings.TELEGRAM_MAX_GROUP_MESSAGES_PER_MINUTE
    )


def bot_for_token(token: str) -> Bot:
    """A bare Bot (no rate limiter) for one-off calls such as checking a token."""
    return Bot(
        token,
        base_url=settings.TELEGRAM_API_URL,
        base_file_url=settings.TELEGRAM_FILE_URL,
        request=HTTPXRequest(connect_timeout=10, read_timeout=20),
    )


class TelegramRuntime:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._senders: dict[int, tuple[str, ExtBot]] = {}
        self._sender_locks: dict[int, asyncio.Lock] = {}

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="telegram-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                self._senders = {}
                self._sender_locks = {}
            return self._loop

    @property
    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, make: Callable[[], Awaitable[T]]) -> Future:
        loop = self._ensure_loop()

        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), loop)

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = DEFAULT_TIMEOUT) -> T:
        """Run a coroutine on the Telegram loop from synchronous code and wait for it."""
        if self.in_loop_thread:
            raise RuntimeError("TelegramRuntime.run called from the Telegram loop itself")
        future = self.submit(make)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()  # the coroutine is cancelled on the loop, not left running
            raise

    async def sender(self, bot_id: int, token: str) -> ExtBot:
        """The bot's initialised, rate-limited Bot on this loop (made again when the
        token changed)."""
        lock = self._sender_locks.setdefault(bot_id, asyncio.Lock())
        async with lock:
            cached = self._senders.get(bot_id)
            if cached is not None and cached[0] == token:
                return cached[1]
            if cached is not None:
                await cached[1].shutdown()
            sender = sender_for_token(token)
            await sender.initialize()
            self._senders[bot_id] = (token, sender)
            return sender

    def rate_limiter(self, bot_id: int) -> SendRateLimiter | None:
        """The rate limiter of the bot's sender on this loop, if it has one yet."""
        cached = self._senders.get(bot_id)
        limiter = cached[1].rate_limiter if cached is not None else None
        return limiter if isinstance(limiter, SendRateLimiter) else None

    async def forget(self, bot_id: int) -> None:
        cached = self._senders.pop(bot_id, None)
        if cached is not None:
            await cached[1].shutdown()

    def shutdown(self) -> None:
        """Close every bot's HTTP pool and stop the loop (tests, process exit)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or self._pid != os.getpid():
                return
            senders = list(self._senders.values())
            self._senders = {}
            self._loop = None

        async def close_all() -> None:
            for _token, sender in senders:
                await sender.shutdown()

        if thread is not None and thread.is_alive():
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(DEFAULT_TIMEOUT)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)


telegram_runtime = TelegramRuntime()


def sender_for_token(token: str) -> ExtBot:
    """A Bot with our endpoints and the shared flood limits, for everything the outbox
    sends (and callback answers): python-telegram-bot's own rate limiter, no
    Application around it."""
    return ExtBot(
        token,
        base_url=settings.TELEGRAM_API_URL,
        base_file_url=settings.TELEGRAM_FILE_URL,
        request=HTTPXRequest(connection_pool_size=64, pool_timeout=30),
        rate_limiter=rate_limiter(),
    )
