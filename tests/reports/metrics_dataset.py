"""A small dataset whose every operator figure is computed by hand in the tests
(tests/reports/test_metrics.py spells each sum out).

Chat "Plain": no working hours, UTC, SLA first 30 s, later 60 s.
Chat "Rome": working hours Mon–Fri 09:00–18:00 and Sun 01:00–05:00, Europe/Rome,
SLA first 60 s, later 300 s. Rome goes 02:00 → 03:00 on Sunday 29 March 2026.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Chat, Dialog, Message
from distributor.models import Operator
from handoff.enums import CloseReason, RequestReason, RequestStatus
from handoff.models import Feedback, HandoffSettings, Request, WorkingPeriod
from tests.chats.factories import ChatFactory, ClientFactory
from tests.distributor.factories import OperatorFactory

UTC = datetime.UTC
ROME = ZoneInfo("Europe/Rome")
NOW = datetime.datetime(2026, 4, 15, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def rome(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=ROME)


@dataclass
class Dataset:
    plain: Chat
    rome: Chat
    anna: Operator
    bruno: Operator
    dialogs: dict[str, Dialog]
    requests: dict[str, Request]


class DialogWriter:
    """Messages of one dialog with their sequence numbers."""

    def __init__(self, chat: Chat, messenger: str, started_at: datetime.datetime) -> None:
        client = ClientFactory(chat=chat, messenger=messenger)
        self.dialog = Dialog.objects.create(
            chat=chat,
            client=client,
            messenger=messenger,
            status=DialogStatus.CLOSED,
            started_at=started_at,
            closed_at=started_at + datetime.timedelta(days=4),
        )
        self.sequence = 0

    def say(self, author_kind: str, at: datetime.datetime, text: str = "") -> None:
        self.sequence += 1
        Message.objects.create(
            dialog=self.dialog,
            sequence=self.sequence,
            author_kind=author_kind,
            created_at=at,
            text=text or f"{author_kind} {self.sequence}",
        )

    def client(self, at: datetime.datetime) -> None:
        self.say(AuthorKind.CLIENT, at)

    def operator(self, at: datetime.datetime) -> None:
        self.say(AuthorKind.OPERATOR, at)

    def bot(self, at: datetime.datetime) -> None:
        self.say(AuthorKind.BOT, at)

    def system(self, at: datetime.datetime) -> None:
        self.say(AuthorKind.SYSTEM, at)

    def request(
        self,
        *,
        created_at: datetime.datetime,
        operator: Operator | None,
        accepted_at: datetime.datetime | None,
        closed_at: datetime.datetime | None,
    ) -> Request:
        return Request.objects.create(
            dialog=self.dialog,
            chat=self.dialog.chat,
            status=RequestStatus.CLOSED if closed_at else RequestStatus.ACCEPTED,
            reason=RequestReason.HEADSET,
            operator=operator,
            created_at=created_at,
            accepted_at=accepted_at,
            closed_at=closed_at,
            close_reason=CloseReason.OPERATOR if closed_at else "",
        )


def rate(request: Request, *, scale: int, score: int) -> None:
    Feedback.objects.create(
        dialog=request.dialog,
        request=request,
        operator=request.operator,
        operator_name=request.operator.display_name,
        scale=scale,
        score=score,
    )


def build_dataset(*, anna_name: str = "Anna", bruno_name: str = "Bruno") -> Dataset:
    plain = ChatFactory(name="Plain")
    HandoffSettings.objects.create(
        chat=plain, time_zone="UTC", sla_first_response_seconds=30, sla_next_response_seconds=60
    )
    rome_chat = ChatFactory(name="Rome")
    rome_settings = HandoffSettings.objects.create(
        chat=rome_chat,
        time_zone="Europe/Rome",
        working_hours_enabled=True,
        sla_first_response_seconds=60,
        sla_next_response_seconds=300,
    )
    for weekday in range(5):
        WorkingPeriod.objects.create(
            settings=rome_settings,
            weekday=weekday,
            starts_at=datetime.time(9),
            ends_at=datetime.time(18),
        )
    WorkingPeriod.objects.create(
        settings=rome_settings, weekday=6, starts_at=datetime.time(1), ends_at=datetime.time(5)
    )
    anna = OperatorFactory(display_name=anna_name, chats=[plain, rome_chat])
    bruno = OperatorFactory(display_name=bruno_name, chats=[plain, rome_chat])
    dialogs: dict[str, Dialog] = {}
    requests: dict[str, Request] = {}

    # D1 (Plain, web, Mon 2 March): Anna, then a transfer to Bruno
    d1 = DialogWriter(plain, Messenger.WEB, utc(2026, 3, 2, 10, 0, 0))
    d1.client(utc(2026, 3, 2, 10, 0, 0))
    d1.bot(utc(2026, 3, 2, 10, 0, 5))
    d1.client(utc(2026, 3, 2, 10, 0, 10))
    requests["r1"] = d1.request(
        created_at=utc(2026, 3, 2, 10, 0, 10),
        operator=anna,
        accepted_at=utc(2026, 3, 2, 10, 0, 20),
        closed_at=utc(2026, 3, 2, 10, 10, 0),
    )
    d1.system(utc(2026, 3, 2, 10, 0, 15))
    d1.operator(utc(2026, 3, 2, 10, 0, 40))  # first response 30 s
    d1.client(utc(2026, 3, 2, 10, 1, 0))  # a wait starts
    d1.bot(utc(2026, 3, 2, 10, 1, 10))
    d1.client(utc(2026, 3, 2, 10, 1, 20))  # still the same wait
    d1.system(utc(2026, 3, 2, 10, 1, 30))
    d1.operator(utc(2026, 3, 2, 10, 2, 30))  # later 90 s
    d1.operator(utc(2026, 3, 2, 10, 3, 0))  # nobody waiting
    d1.client(utc(2026, 3, 2, 10, 3, 10))
    d1.operator(utc(2026, 3, 2, 10, 3, 50))  # later 40 s
    d1.client(utc(2026, 3, 2, 10, 5, 0))  # "thanks": never answered, not measured
    requests["r2"] = d1.request(
        created_at=utc(2026, 3, 2, 10, 10, 0),
        operator=bruno,
        accepted_at=utc(2026, 3, 2, 10, 11, 0),
        closed_at=utc(2026, 3, 2, 10, 20, 0),
    )
    d1.client(utc(2026, 3, 2, 10, 10, 30))  # between the windows: nobody's
    d1.operator(utc(2026, 3, 2, 10, 12, 0))  # Bruno's first response 120 s
    d1.client(utc(2026, 3, 2, 10, 12, 30))
    d1.operator(utc(2026, 3, 2, 10, 13, 0))  # later 30 s
    rate(requests["r1"], scale=5, score=4)
    rate(requests["r2"], scale=10, score=7)
    dialogs["d1"] = d1.dialog

    # D2 (Plain, telegram, Tue 3 March): nobody accepted
    d2 = DialogWriter(plain, Messenger.TELEGRAM, utc(2026, 3, 3, 9, 0, 0))
    d2.client(utc(2026, 3, 3, 9, 0, 0))
    requests["r3"] = d2.request(
        created_at=utc(2026, 3, 3, 9, 0, 5),
        operator=None,
        accepted_at=None,
        closed_at=utc(2026, 3, 3, 9, 15, 0),
    )
    d2.bot(utc(2026, 3, 3, 9, 15, 0))
    dialogs["d2"] = d2.dialog

    # D3 (Plain, web, Tue 3 March): Anna accepted and never wrote
    d3 = DialogWriter(plain, Messenger.WEB, utc(2026, 3, 3, 11, 0, 0))
    requests["r4"] = d3.request(
        created_at=utc(2026, 3, 3, 11, 0, 0),
        operator=anna,
        accepted_at=utc(2026, 3, 3, 11, 0, 30),
        closed_at=utc(2026, 3, 3, 11, 5, 0),
    )
    d3.client(utc(2026, 3, 3, 11, 1, 0))
    rate(requests["r4"], scale=2, score=2)
    dialogs["d3"] = d3.dialog

    # D4 (Plain, web, Wed 4 March): the bot only
    d4 = DialogWriter(plain, Messenger.WEB, utc(2026, 3, 4, 8, 0, 0))
    d4.client(utc(2026, 3, 4, 8, 0, 0))
    d4.bot(utc(2026, 3, 4, 8, 0, 1))
    dialogs["d4"] = d4.dialog

    # D5 (Rome, web, Fri 27 March): asked a minute before closing, answered Monday
    d5 = DialogWriter(rome_chat, Messenger.WEB, rome(2026, 3, 27, 17, 58, 0))
    d5.client(rome(2026, 3, 27, 17, 58, 30))
    requests["r5"] = d5.request(
        created_at=rome(2026, 3, 27, 17, 59, 0),
        operator=bruno,
        accepted_at=rome(2026, 3, 27, 17, 59, 10),
        closed_at=rome(2026, 3, 30, 9, 30, 0),
    )
    d5.operator(rome(2026, 3, 30, 9, 1, 0))  # 60 + Sunday 01:00–05:00 (3 h) + 60
    d5.client(rome(2026, 3, 30, 9, 2, 0))
    d5.operator(rome(2026, 3, 30, 9, 4, 30))  # later 150 s
    dialogs["d5"] = d5.dialog

    # D6 (Rome, telegram, Sunday 29 March 00:40 CET = 28 March 23:40 UTC): over the jump
    d6 = DialogWriter(rome_chat, Messenger.TELEGRAM, utc(2026, 3, 28, 23, 40, 0))
    d6.client(rome(2026, 3, 29, 1, 49, 0))
    requests["r6"] = d6.request(
        created_at=rome(2026, 3, 29, 1, 50, 0),
        operator=anna,
        accepted_at=rome(2026, 3, 29, 1, 50, 30),
        closed_at=rome(2026, 3, 29, 3, 30, 0),
    )
    d6.operator(rome(2026, 3, 29, 3, 10, 0))  # 01:50 CET → 03:10 CEST: 20 minutes
    d6.client(rome(2026, 3, 29, 3, 15, 0))
    d6.operator(rome(2026, 3, 29, 3, 16, 0))  # later 60 s
    dialogs["d6"] = d6.dialog

    return Dataset(
        plain=plain,
        rome=rome_chat,
        anna=anna,
        bruno=bruno,
        dialogs=dialogs,
        requests=requests,
    )
