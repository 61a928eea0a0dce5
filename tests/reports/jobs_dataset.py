"""A small hand-made dataset for the report builders: every figure the tests assert
is worked out by hand in the comments here.

Chat "Shop" (Europe/Rome: UTC+1 in January) is granted to the analyst; chat
"Hidden" (UTC) is not, and must appear in no report.

    D3  web       started 2026-01-09 08:00Z (09:00 Rome)  closed 08:20Z
        #1 bot "Hi"  #2 client "Ciao, VOGLIO l'ordine!!"  #3 client "Где мой заказ?"
    D1  web       started 2026-01-10 09:00Z (10:00 Rome)  closed 09:30Z  cost 0.1234
        client Anna (customer "Anna Rossi")
        #1 client "Where is my order?"      09:00:05Z
        #2 bot    "Let me check"            09:00:06Z
        #3 client "I want to cancel my order" 09:01:00Z
        #4 system "Marco joined"            09:04:00Z
        #5 operator Marco "Hello, I can help" 09:05:00Z
        #6 client "=cancel order please"    09:06:00Z
        request accepted by Marco (created 09:02Z, accepted 09:04Z)
        marker hits: sale 09:00:30Z, sale 09:10Z, vip 09:20Z
        pages: https://shop.example/a "Home" 08:59Z, https://shop.example/b "Cart" 09:01Z
    D2  telegram  started 2026-01-11 12:00Z (13:00 Rome)  open (bot)
        #1 client "Cancel ＯＲＤＥＲ" (full-width letters)  #2 bot "OK"
        request pending (nobody accepted)
        pages: https://shop.example/a "Home" 12:00Z
    H1  (chat Hidden) web, client "cancel order secret", bot "x", a marker, a page
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import Group

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Chat, Dialog, MarkerHit, Message, PageVisit
from distributor.models import CustomerBinding, Operator
from handoff.enums import RequestReason, RequestStatus
from handoff.models import HandoffSettings, Request
from reports.access import ANALYST_GROUP
from reports.models import AnalystChatGrant
from tests.chats.factories import ChatFactory, ClientFactory, DialogFactory
from tests.distributor.factories import CustomerFactory, OperatorFactory, UserFactory


def utc(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 1):
    return datetime.datetime(2026, month, day, hour, minute, second, tzinfo=datetime.UTC)


def wall(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0):
    """A naive wall-clock time, as a sheet shows it."""
    moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)
    return moment.replace(tzinfo=None)


def analyst_make(username: str = "analyst", chats: tuple[Chat, ...] = ()):
    """A member of the analyst group granted these chats."""
    user = UserFactory(username=username)
    group, _created = Group.objects.get_or_create(name=ANALYST_GROUP)
    user.groups.add(group)
    for chat in chats:
        AnalystChatGrant.objects.create(user=user, chat=chat)
    return user


def messages_add(dialog: Dialog, messages: list[tuple[str, str, str, datetime.datetime]]):
    for sequence, (kind, name, text, at) in enumerate(messages, start=1):
        Message.objects.create(
            dialog=dialog,
            sequence=sequence,
            author_kind=kind,
            author_name=name,
            text=text,
            created_at=at,
        )
    Dialog.objects.filter(pk=dialog.pk).update(last_sequence=len(messages))


@dataclass
class Dataset:
    shop: Chat
    hidden: Chat
    d1: Dialog
    d2: Dialog
    d3: Dialog
    hidden_dialog: Dialog
    marco: Operator


def dataset_make() -> Dataset:
    shop = ChatFactory(name="Shop")
    HandoffSettings.objects.create(chat=shop, time_zone="Europe/Rome")
    hidden = ChatFactory(name="Hidden")
    marco = OperatorFactory(display_name="Marco", chats=[shop])

    d3 = DialogFactory(
        client=ClientFactory(chat=shop, external_id="visitor-3"),
        started_at=utc(9, 8),
        closed_at=utc(9, 8, 20),
        status=DialogStatus.CLOSED,
    )
    messages_add(
        d3,
        [
            (AuthorKind.BOT, "Bot", "Hi", utc(9, 8, 0, 1)),
            (AuthorKind.CLIENT, "", "Ciao, VOGLIO l'ordine!!", utc(9, 8, 1)),
            (AuthorKind.CLIENT, "", "Где мой заказ?", utc(9, 8, 2)),
        ],
    )

    anna = ClientFactory(chat=shop, external_id="visitor-1", name="Anna")
    CustomerBinding.objects.create(client=anna, customer=CustomerFactory(name="Anna Rossi"))
    d1 = DialogFactory(
        client=anna,
        started_at=utc(10, 9),
        closed_at=utc(10, 9, 30),
        status=DialogStatus.CLOSED,
        cost=Decimal("0.1234"),
    )
    messages_add(
        d1,
        [
            (AuthorKind.CLIENT, "Anna", "Where is my order?", utc(10, 9, 0, 5)),
            (AuthorKind.BOT, "Bot", "Let me check", utc(10, 9, 0, 6)),
            (AuthorKind.CLIENT, "Anna", "I want to cancel my order", utc(10, 9, 1)),
            (AuthorKind.SYSTEM, "", "Marco joined", utc(10, 9, 4)),
            (AuthorKind.OPERATOR, "Marco", "Hello, I can help", utc(10, 9, 5)),
            (AuthorKind.CLIENT, "Anna", "=cancel order please", utc(10, 9, 6)),
        ],
    )
    Request.objects.create(
        dialog=d1,
        chat=shop,
        status=RequestStatus.CLOSED,
        reason=RequestReason.SCRIPT,
        operator=marco,
        created_at=utc(10, 9, 2),
        accepted_at=utc(10, 9, 4),
        closed_at=utc(10, 9, 30),
    )
    for marker, at in (
        ("sale", utc(10, 9, 0, 30)),
        ("sale", utc(10, 9, 10)),
        ("vip", utc(10, 9, 20)),
    ):
        MarkerHit.objects.create(dialog=d1, marker=marker, created_at=at)
    PageVisit.objects.create(
        dialog=d1, url="https://shop.example/a", title="Home", visited_at=utc(10, 8, 59)
    )
    PageVisit.objects.create(
        dialog=d1, url="https://shop.example/b", title="Cart", visited_at=utc(10, 9, 1)
    )

    d2 = DialogFactory(
        client=ClientFactory(chat=shop, messenger=Messenger.TELEGRAM, external_id="tg-2"),
        started_at=utc(11, 12),
        status=DialogStatus.WAITING,
    )
    messages_add(
        d2,
        [
            (AuthorKind.CLIENT, "", "Cancel ＯＲＤＥＲ", utc(11, 12, 0, 1)),
            (AuthorKind.BOT, "Bot", "OK", utc(11, 12, 0, 2)),
        ],
    )
    Request.objects.create(
        dialog=d2,
        chat=shop,
        status=RequestStatus.PENDING,
        reason=RequestReason.SCRIPT,
        created_at=utc(11, 12, 1),
    )
    PageVisit.objects.create(
        dialog=d2, url="https://shop.example/a", title="Home", visited_at=utc(11, 12)
    )

    hidden_dialog = DialogFactory(client=ClientFactory(chat=hidden), started_at=utc(10, 10))
    messages_add(
        hidden_dialog,
        [
            (AuthorKind.CLIENT, "", "cancel order secret", utc(10, 10, 0, 1)),
            (AuthorKind.BOT, "Bot", "x", utc(10, 10, 0, 2)),
        ],
    )
    MarkerHit.objects.create(dialog=hidden_dialog, marker="sale", created_at=utc(10, 10, 1))
    PageVisit.objects.create(
        dialog=hidden_dialog, url="https://hidden.example/", visited_at=utc(10, 10)
    )
    return Dataset(
        shop=shop, hidden=hidden, d1=d1, d2=d2, d3=d3, hidden_dialog=hidden_dialog, marco=marco
    )
