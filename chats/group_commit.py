"""Group commit of visitors' messages: the messages that arrive on the widget sockets
of one process while the database thread is busy are stored together, in one
transaction, by one trip to that thread.

Each message still goes through dialog_receive_client_message (its own savepoint, so
one that fails is rolled back alone and its socket gets its error; the others are
stored), in arrival order per dialog; the batch takes the dialogs' row locks in
dialog order, so two batches never wait on each other in a circle. A message is
acknowledged only after the batch has committed (store before ack), and the events
the batch published go out from the event loop afterwards, as database_call does.
A batch that does not commit (its connection died part-way, or at the commit) fails
every message of it with ClientMessageNotStored, to be sent again; a commit hook that
raises once the batch has committed is logged and fails nobody.
Nothing waits for a batch to fill: a message that finds the thread idle goes at once.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.db import transaction

from chats.models import Dialog
from chats.realtime import collecting_events, group_send_now
from chats.services import ClientMessageResult, dialog_receive_client_message

logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    dialog: Dialog
    text: str
    client_msg_id: str
    done: asyncio.Future = field(repr=False)


class ClientMessageNotStored(Exception):
    """The batch this message went with did not commit (the database connection failed
    part-way or at the commit): nothing of it is stored, so nothing is acknowledged; the
    message is to be sent again (the widget's outbox does)."""


def _robust_commit_hooks(connection) -> None:
    """Make the hooks registered so far robust (logged, not raised, when they fail).
    A hook that raises after the commit would make atomic() raise with the batch
    committed and skip the hooks behind it (other messages' events and deliveries).
    Django has no public call for this: the entries are (savepoint ids, hook, robust)."""
    connection.run_on_commit = [
        (savepoint_ids, hook, True) for savepoint_ids, hook, _robust in connection.run_on_commit
    ]


def _store(batch: list[_Pending]) -> tuple[list[ClientMessageResult | Exception], list]:
    """On the database thread: store the batch in one transaction; one outcome (a result
    or the error it raised) per message, in the batch's order, and the events to send.
    When the batch does not commit, every message's outcome is ClientMessageNotStored."""
    outcomes: dict[int, ClientMessageResult | Exception] = {}
    committed: list[bool] = []
    connection = transaction.get_connection()
    with collecting_events() as events:
        try:
            with transaction.atomic():
                # the first hook: it runs only once the commit has succeeded
                transaction.on_commit(lambda: committed.append(True), robust=True)
                # sorted by dialog (stable: one dialog's messages keep their order)
                for index, item in sorted(enumerate(batch), key=lambda pair: pair[1].dialog.pk):
                    try:
                        with transaction.atomic():
                            outcomes[index] = dialog_receive_client_message(
                                dialog=item.dialog, text=item.text, client_msg_id=item.client_msg_id
                            )
                    except Exception as error:  # this message only: its savepoint is gone
                        outcomes[index] = error
                if transaction.get_rollback() or connection.closed_in_transaction:
                    # a savepoint could not be rolled back (the connection died): atomic()
                    # would roll the whole batch back on exit without raising
                    raise ClientMessageNotStored("the database connection failed mid-batch")
                _robust_commit_hooks(connection)
        except Exception as error:
            if not committed:  # nothing of the batch is stored
                logger.warning("a batch of %d message(s) was not stored: %r", len(batch), error)
                return [_not_stored(error) for _ in batch], []
            # raised after the commit: the messages are stored and stand
            logger.exception("after the commit of a batch of %d message(s)", len(batch))
    return [outcomes[index] for index in range(len(batch))], list(events)


def _not_stored(error: Exception) -> ClientMessageNotStored:
    if isinstance(error, ClientMessageNotStored):
        return error
    not_stored = ClientMessageNotStored(f"the batch did not commit: {error}")
    not_stored.__cause__ = error
    return not_stored


class ClientMessageGroupCommit:
    """One per event loop (the process's websockets)."""

    def __init__(self) -> None:
        self.waiting: list[_Pending] = []
        self.running = False

    async def store(self, *, dialog: Dialog, text: str, client_msg_id: str) -> ClientMessageResult:
        """dialog_receive_client_message, committed with the others waiting; raises what
        it raised for this message."""
        done = asyncio.get_running_loop().create_future()
        self.waiting.append(_Pending(dialog, text, client_msg_id, done))
        if not self.running:
            self.running = True
            asyncio.get_running_loop().create_task(self._run())
        return await done

    async def _run(self) -> None:
        try:
            # what arrived in this turn of the loop goes along; then, while the database
            # thread works on a batch, the next one gathers
            await asyncio.sleep(0)
            while self.waiting:
                batch, self.waiting = self.waiting, []
                try:
                    outcomes, events = await database_sync_to_async(_store)(batch)
                except Exception as error:  # the thread call itself failed
                    outcomes, events = [_not_stored(error) for _ in batch], []
                if events:
                    await group_send_now(events)
                for item, outcome in zip(batch, outcomes, strict=True):
                    if item.done.done():  # its socket went away meanwhile
                        continue
                    if isinstance(outcome, Exception):
                        item.done.set_exception(outcome)
                    else:
                        item.done.set_result(outcome)
        finally:
            self.running = False


_group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ClientMessageGroupCommit] = (
    weakref.WeakKeyDictionary()
)


def client_message_group_commit() -> ClientMessageGroupCommit:
    """This event loop's group commit."""
    loop = asyncio.get_running_loop()
    group_commit = _group_commits.get(loop)
    if group_commit is None:
        group_commit = _group_commits[loop] = ClientMessageGroupCommit()
    return group_commit
