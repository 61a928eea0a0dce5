"""The operator console's accepts (a mixin of handoff.consumers.ConsoleConsumer).

Accepts are queued for up to ACCEPTS_IN_FLIGHT workers per socket and receive() never
waits for them, so the events that tell an operator a request was taken elsewhere
reach them at once. A Daphne process remembers the requests it knows are settled
(handoff.settled): an accept of one is refused on the event loop, and while one of the
process's sockets is accepting a request, the others wait for that outcome instead of
queuing their own database call (single flight), so in an accept storm the losers do
not queue behind the winners on the process's one database thread."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from handoff import services
from handoff.console_protocol import Accept, ConsoleFrameError
from handoff.enums import RequestStatus
from handoff.settled import settled_get

# accepts of one socket in flight at once (see ConsoleConsumer.receive): each may be a
# call queued on the process's one database thread, so one socket may not fill it
ACCEPTS_IN_FLIGHT = 4
# accepts of one socket waiting for a worker: beyond it an accept is refused as busy
ACCEPTS_WAITING = 1000

logger = logging.getLogger(__name__)


class ConsoleAcceptsMixin:
    """Needs the consumer's run(frame), call(request_id, service), send_json(frame),
    unwatch_request(request_id), `ended` and `dialog_of`."""

    def accepts_start(self) -> None:
        self.accepts: set[asyncio.Future] = set()  # the workers running accepts_waiting
        self.accepts_waiting: deque[Accept] = deque()
        self.accept_workers = 0

    async def accept_enqueue(self, frame: Accept) -> None:
        if len(self.accepts_waiting) >= ACCEPTS_WAITING:
            await self.send_json(
                ConsoleFrameError(
                    "busy",
                    f"at most {ACCEPTS_WAITING} accepts may wait at once; wait for their answers",
                    frame.request_id,
                ).as_frame()
            )
            return
        self.accepts_waiting.append(frame)
        if self.accept_workers < ACCEPTS_IN_FLIGHT:
            self.accept_workers += 1
            task = asyncio.ensure_future(self.accepts_drain())
            self.accepts.add(task)
            task.add_done_callback(self.accepts.discard)

    async def accepts_finish(self) -> None:
        """Wait for the accepts sent so far (none can be queued meanwhile: the
        socket's next frame waits for this)."""
        running = {task for task in self.accepts if not task.done()}
        if running:
            await asyncio.wait(running)

    def accepts_cancel(self) -> None:
        for task in list(getattr(self, "accepts", ())):
            task.cancel()

    async def accepts_drain(self) -> None:
        """One of the socket's accept workers: it runs the waiting accepts in the order
        they came until none is left. receive() never waits for them, so the events
        that tell this operator a request was taken elsewhere are handled at once
        (and settle the waiting accepts of that request without a database call)."""
        try:
            while self.accepts_waiting:
                await self.run_accept(self.accepts_waiting.popleft())
        finally:
            # in the same step as finding the queue empty: an accept queued after it
            # sees one worker fewer and starts its own
            self.accept_workers -= 1

    async def run_accept(self, frame: Accept) -> None:
        """An accept, as a task: nothing awaits it, so an unexpected error (the database
        went away) is logged here and answered with a server_error frame naming the
        request (the console then asks for a fresh list), instead of being lost with
        the operator left waiting. The socket stays open."""
        try:
            await self.run(frame)
        except Exception:
            logger.exception("console accept of request %s failed", frame.request_id)
            if not self.ended:
                await self.send_json(
                    ConsoleFrameError(
                        "server_error", "the server failed to accept it", frame.request_id
                    ).as_frame()
                )

    async def handle_accept(self, frame: Accept) -> None:
        """A request this process knows is no longer waiting is refused at once, and
        while another socket of this process is accepting the same request, this one
        waits for that outcome instead of queuing its own database call: in an accept
        storm the losers do not queue behind the winners on the one database thread.
        Only for a request this socket was shown (a refusal tells nothing new then)."""
        try:
            await self.accept_request(frame.request_id)
        except ConsoleFrameError as error:
            if error.code == services.RequestAlreadyTaken.code:
                # another operator has it: its conversation is not this console's
                await self.unwatch_request(frame.request_id)
            raise

    async def accept_request(self, request_id: int) -> None:
        shown = request_id in self.dialog_of
        while shown:
            try:
                settled_refuse(request_id)
            except services.HandoffError as error:
                raise ConsoleFrameError(error.code, str(error), request_id) from None
            running = _accepting.get(request_id)
            if running is None:
                break
            # the other accept's outcome: settled (refused above), or it failed for its
            # own reason (capacity, session) and this one tries in turn
            await asyncio.wait([running])
        flight = asyncio.get_running_loop().create_future()
        if shown:
            _accepting[request_id] = flight
        try:
            await self.call(request_id, services.request_accept)
        finally:
            if _accepting.get(request_id) is flight:
                del _accepting[request_id]
            flight.set_result(None)


# request id -> the accept of it this process is running now (see handle_accept)
_accepting: dict[int, asyncio.Future] = {}


def settled_refuse(request_id: int) -> None:
    """Raise the accept's refusal when this process knows the request is settled."""
    settled = settled_get(request_id)
    if settled is None:
        return
    status, name = settled
    if status == RequestStatus.ACCEPTED:
        raise services.RequestAlreadyTaken(status, name)
    raise services.IllegalTransition(status, RequestStatus.ACCEPTED)
