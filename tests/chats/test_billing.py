"""Message prices and each dialog's cost: the message path adds a message's price in
its one UPDATE, a duplicate gives it back, and a recompute agrees with what the
message path wrote."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chats.enums import AuthorKind, MessageDirection, Messenger
from chats.models import Dialog, Message, MessagePrice
from chats.services import message_post
from chats.services.billing import (
    PricePeriod,
    dialog_costs_recompute,
    dialog_costs_recompute_for_periods,
    message_direction,
    message_price,
    message_price_save,
    message_prices_delete,
)
from tests.chats.factories import DialogFactory
from tests.servers import wait_until

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
T1 = datetime.datetime(2026, 3, 15, 0, 0, tzinfo=datetime.UTC)
MICROSECOND = datetime.timedelta(microseconds=1)


class Clock:
    """timezone.now() for the message path, set by the test."""

    def __init__(self, monkeypatch) -> None:
        self.now = T0
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def at(self, moment: datetime.datetime) -> "Clock":
        self.now = moment
        return self


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def eager_celery():
    """Tasks run in this process when sent (Celery's own test mode): the recompute
    task then runs inside the on-commit callback the test executes."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


def price(messenger=Messenger.WEB, direction=MessageDirection.INBOUND, amount="0.0100", **period):
    period.setdefault("valid_from", T0 - datetime.timedelta(days=30))
    return MessagePrice.objects.create(
        messenger=messenger, direction=direction, price=Decimal(amount), **period
    )


def stored_cost(dialog) -> Decimal:
    return Dialog.objects.values_list("cost", flat=True).get(pk=dialog.pk)


def recomputed_cost(dialog) -> Decimal:
    dialog_costs_recompute(dialog_ids=[dialog.pk])
    return stored_cost(dialog)


def post(dialog, kind=AuthorKind.CLIENT, client_msg_id=None):
    if kind == AuthorKind.CLIENT and client_msg_id is None:
        client_msg_id = f"c{Message.objects.count()}"
    return message_post(dialog=dialog, author_kind=kind, text="x", client_msg_id=client_msg_id)


def test_client_messages_are_inbound_and_everything_else_outbound():
    assert message_direction(AuthorKind.CLIENT) == MessageDirection.INBOUND
    for kind in (AuthorKind.BOT, AuthorKind.OPERATOR, AuthorKind.SYSTEM):
        assert message_direction(kind) == MessageDirection.OUTBOUND


@pytest.mark.django_db
def test_each_message_adds_the_price_of_its_direction(clock):
    # given web prices: 0.01 in, 0.002 out; a Telegram price that must not apply
    price(direction=MessageDirection.INBOUND, amount="0.0100")
    price(direction=MessageDirection.OUTBOUND, amount="0.0020")
    price(messenger=Messenger.TELEGRAM, direction=MessageDirection.OUTBOUND, amount="5")
    dialog = DialogFactory()
    # when a client, the bot, an operator and the system write
    for kind in (AuthorKind.CLIENT, AuthorKind.BOT, AuthorKind.OPERATOR, AuthorKind.SYSTEM):
        post(dialog, kind)
    # then 0.01 + 3 x 0.002, kept on the caller's instance too, and a recompute agrees
    assert stored_cost(dialog) == Decimal("0.0160")
    assert dialog.cost == Decimal("0.0160")
    assert recomputed_cost(dialog) == Decimal("0.0160")


@pytest.mark.django_db
def test_a_channel_without_prices_costs_nothing(clock):
    price(messenger=Messenger.TELEGRAM, amount="1")
    dialog = DialogFactory()
    post(dialog)
    post(dialog, AuthorKind.BOT)
    assert stored_cost(dialog) == 0
    assert recomputed_cost(dialog) == 0


@pytest.mark.django_db
def test_a_message_at_valid_from_counts_and_one_at_valid_until_does_not(clock):
    # given a price of 1 for [T0, T1) and nothing after it
    price(amount="1", valid_from=T0, valid_until=T1)
    dialog = DialogFactory()
    # when messages come just before, at the start, just before the end and at the end
    for moment in (T0 - MICROSECOND, T0, T1 - MICROSECOND, T1):
        clock.at(moment)
        post(dialog)
    # then only the two inside the period are paid
    assert stored_cost(dialog) == Decimal("2")
    assert recomputed_cost(dialog) == Decimal("2")
    prices = [
        message_price(messenger=Messenger.WEB, author_kind=AuthorKind.CLIENT, at=moment)
        for moment in (T0 - MICROSECOND, T0, T1 - MICROSECOND, T1)
    ]
    assert prices == [0, 1, 1, 0]


@pytest.mark.django_db
def test_the_next_period_prices_a_message_at_its_start(clock):
    price(amount="1", valid_from=T0, valid_until=T1)
    price(amount="3", valid_from=T1)
    dialog = DialogFactory()
    clock.at(T1 - MICROSECOND)
    post(dialog)
    clock.at(T1)
    post(dialog)
    assert stored_cost(dialog) == Decimal("4")
    assert recomputed_cost(dialog) == Decimal("4")


@pytest.mark.django_db
def test_a_repeated_client_msg_id_does_not_add_the_price_twice(clock):
    price(amount="0.5")
    dialog = DialogFactory()
    post(dialog, client_msg_id="same")
    _message, created = post(dialog, client_msg_id="same")
    assert created is False
    assert stored_cost(dialog) == Decimal("0.5")


@pytest.mark.django_db
def test_a_closed_dialog_refuses_a_message_and_its_price(clock):
    from chats.enums import DialogStatus
    from chats.services import DialogClosed, dialog_status_set

    price(amount="0.5")
    dialog = DialogFactory()
    dialog_status_set(dialog=dialog, status=DialogStatus.CLOSED)
    with pytest.raises(DialogClosed):
        post(dialog)
    assert stored_cost(dialog) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_of_one_client_msg_id_pay_each_message_once():
    # given a price and 20 writers sending 10 messages, each twice at once
    price(amount="0.25", valid_from=timezone.now() - datetime.timedelta(days=1))
    dialog = DialogFactory()
    from tests.threads import run_in_threads

    def send(index: int) -> None:
        message_post(
            dialog=Dialog.objects.get(pk=dialog.pk),
            author_kind=AuthorKind.CLIENT,
            text=f"m{index // 2}",
            client_msg_id=f"m{index // 2}",
        )

    assert run_in_threads(20, send) == []
    assert Message.objects.filter(dialog=dialog).count() == 10
    assert stored_cost(dialog) == Decimal("2.5")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks that wait")
def test_a_duplicate_that_loses_the_insert_gives_its_price_back():
    """PostgreSQL: a writer whose UPDATE waited for the row lock of a transaction
    that stored the same client_msg_id passes the UPDATE's check (its snapshot is
    older), loses the INSERT and runs RELEASE_SQL: the cost must come back down."""
    price(amount="0.25", valid_from=timezone.now() - datetime.timedelta(days=1))
    dialog = DialogFactory()
    first_stored = threading.Event()
    may_commit = threading.Event()
    second: dict = {}

    def first() -> None:
        try:
            with transaction.atomic():
                post(Dialog.objects.get(pk=dialog.pk), client_msg_id="same")
                first_stored.set()
                may_commit.wait(30)
        finally:
            connection.close()

    def duplicate() -> None:
        try:
            first_stored.wait(30)
            second["pid"] = connection.cursor().connection.info.backend_pid
            with CaptureQueriesContext(connection) as queries:
                second["result"] = post(Dialog(pk=dialog.pk), client_msg_id="same")
            second["sql"] = [query["sql"] for query in queries]
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=duplicate)]
    for thread in threads:
        thread.start()
    # the duplicate is waiting for the dialog's row lock: let the first commit
    first_stored.wait(30)

    def duplicate_waits() -> bool:
        if "pid" not in second:
            return False
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [second["pid"]]
            )
            row = cursor.fetchone()
        return row is not None and row[0] == "Lock"

    wait_until(duplicate_waits, seconds=30)
    may_commit.set()
    for thread in threads:
        thread.join()
    _message, created = second["result"]
    assert created is False
    assert any('"last_sequence" - 1' in sql for sql in second["sql"])
    assert Message.objects.filter(dialog=dialog).count() == 1
    dialog.refresh_from_db()
    assert (dialog.cost, dialog.last_sequence) == (Decimal("0.25"), 1)


@pytest.mark.django_db
def test_recompute_by_period_touches_only_dialogs_with_messages_in_it(clock):
    # given two dialogs written before any price existed (cost 0)
    early, late = DialogFactory(), DialogFactory()
    clock.at(T0)
    post(early)
    clock.at(T1)
    post(late)
    # when a price for [T0, T1) appears and only that period is recomputed
    price(amount="2", valid_from=T0, valid_until=T1)
    touched = dialog_costs_recompute(
        messenger=Messenger.WEB, direction=MessageDirection.INBOUND, since=T0, until=T1
    )
    # then only the early dialog is recomputed
    assert touched == 1
    assert (stored_cost(early), stored_cost(late)) == (Decimal("2"), 0)


@pytest.mark.django_db
def test_recompute_by_period_ignores_the_other_direction_and_channel(clock):
    dialog = DialogFactory()
    clock.at(T0)
    post(dialog, AuthorKind.BOT)
    price(amount="2", valid_from=T0)
    assert dialog_costs_recompute(direction=MessageDirection.INBOUND, since=T0) == 0
    assert dialog_costs_recompute(messenger=Messenger.TELEGRAM, since=T0) == 0
    assert stored_cost(dialog) == 0


@pytest.mark.django_db
def test_recompute_walks_batches_of_ids(clock, monkeypatch):
    from chats.services import billing

    monkeypatch.setattr(billing, "RECOMPUTE_BATCH", 2)
    dialogs = [DialogFactory() for _ in range(5)]
    for dialog in dialogs:
        post(dialog)
    price(amount="1")
    assert dialog_costs_recompute() == 5
    assert [stored_cost(dialog) for dialog in dialogs] == [Decimal("1")] * 5


@pytest.mark.django_db
def test_message_price_save_refuses_an_overlap_and_writes_nothing(
    django_capture_on_commit_callbacks,
):
    price(amount="1", valid_from=T0, valid_until=T1)
    overlapping = MessagePrice(
        messenger=Messenger.WEB,
        direction=MessageDirection.INBOUND,
        price=Decimal("2"),
        valid_from=T1 - MICROSECOND,
    )
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError):
        message_price_save(price=overlapping)
    assert MessagePrice.objects.count() == 1
    assert callbacks == []


@pytest.mark.django_db
def test_adjacent_periods_and_other_directions_do_not_overlap():
    price(amount="1", valid_from=T0, valid_until=T1)
    for other in (
        MessagePrice(messenger="web", direction="inbound", price=2, valid_from=T1),
        MessagePrice(messenger="web", direction="outbound", price=2, valid_from=T0),
        MessagePrice(messenger="telegram", direction="inbound", price=2, valid_from=T0),
        MessagePrice(
            messenger="web",
            direction="inbound",
            price=2,
            valid_from=T0 - datetime.timedelta(days=1),
            valid_until=T0,
        ),
    ):
        message_price_save(price=other)
    assert MessagePrice.objects.count() == 5


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad",
    [
        {"price": Decimal("-0.01")},
        {"valid_until": T0},
        {"valid_until": T0 - MICROSECOND},
        {"messenger": "carrier-pigeon"},
        {"direction": "sideways"},
        {"price": Decimal("12345678.1234")},
    ],
)
def test_bad_prices_are_refused_and_nothing_is_written(bad, django_capture_on_commit_callbacks):
    fields = {
        "messenger": Messenger.WEB,
        "direction": MessageDirection.INBOUND,
        "price": Decimal("1"),
        "valid_from": T0,
        **bad,
    }
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError):
        message_price_save(price=MessagePrice(**fields))
    assert MessagePrice.objects.count() == 0
    assert callbacks == []


@pytest.mark.django_db
def test_changing_a_price_recomputes_its_old_and_new_periods(
    clock, django_capture_on_commit_callbacks, eager_celery
):
    # given messages in March (priced 1) and in May (no price yet)
    march, may = DialogFactory(), DialogFactory(client__messenger=Messenger.TELEGRAM)
    stored = price(amount="1", valid_from=T0, valid_until=T1)
    clock.at(T0)
    post(march)
    clock.at(datetime.datetime(2026, 5, 2, tzinfo=datetime.UTC))
    post(may)
    assert (stored_cost(march), stored_cost(may)) == (Decimal("1"), 0)
    # when the price moves to Telegram in May
    stored.messenger = Messenger.TELEGRAM
    stored.valid_from = datetime.datetime(2026, 5, 1, tzinfo=datetime.UTC)
    stored.valid_until = None
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message_price_save(price=stored)
    # then one task recomputed both: March is free again and May is paid
    assert len(callbacks) == 1
    assert (stored_cost(march), stored_cost(may)) == (0, Decimal("1"))


@pytest.mark.django_db
def test_deleting_prices_recomputes_their_periods(
    clock, django_capture_on_commit_callbacks, eager_celery
):
    stored = price(amount="1", valid_from=T0)
    dialog = DialogFactory()
    post(dialog)
    assert stored_cost(dialog) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert message_prices_delete(prices=[stored]) == 1
    assert stored_cost(dialog) == 0
    assert MessagePrice.objects.count() == 0


def test_price_periods_travel_as_json():
    period = PricePeriod("web", "inbound", T0, None)
    assert PricePeriod.from_json(period.to_json()) == period
    bounded = PricePeriod("telegram", "outbound", T0, T1)
    assert PricePeriod.from_json(bounded.to_json()) == bounded


@pytest.mark.django_db
def test_recompute_for_periods_counts_each_period_once(clock):
    dialog = DialogFactory()
    post(dialog)
    price(amount="1", valid_from=T0)
    period = PricePeriod("web", "inbound", T0, None)
    assert dialog_costs_recompute_for_periods([period, period]) == 1
    assert stored_cost(dialog) == 1


RACE_ROUNDS = 40 if connection.vendor == "postgresql" else 5


@pytest.mark.django_db(transaction=True)
def test_overlapping_prices_saved_at_once_store_exactly_one():
    """8 admins save overlapping web inbound prices at the same instant, round after
    round (each round in a year of its own): one wins each round, the rest are refused
    as overlaps. On PostgreSQL this needs message_prices_lock; on SQLite the IMMEDIATE
    transactions serialise the writers."""
    from tests.threads import run_in_threads

    racers = 8
    for round_number in range(RACE_ROUNDS):
        start = T0.replace(year=2030 + round_number)
        ready = threading.Barrier(racers)

        def save(index: int, start=start, ready=ready) -> None:
            connection.ensure_connection()
            ready.wait()
            message_price_save(
                price=MessagePrice(
                    messenger=Messenger.WEB,
                    direction=MessageDirection.INBOUND,
                    price=Decimal(index),
                    valid_from=start + datetime.timedelta(hours=index),
                    valid_until=start + datetime.timedelta(days=30),
                )
            )

        errors = run_in_threads(racers, save)
        assert [type(error) for error in errors] == [ValidationError] * (racers - 1)
    assert MessagePrice.objects.count() == RACE_ROUNDS


@pytest.mark.django_db
def test_recompute_of_listed_dialogs_takes_them_in_batches(clock, monkeypatch):
    from chats.services import billing

    monkeypatch.setattr(billing, "RECOMPUTE_BATCH", 2)
    dialogs = [DialogFactory() for _ in range(5)]
    for dialog in dialogs:
        post(dialog)
    price(amount="1")
    listed = [dialogs[4].pk, dialogs[0].pk, dialogs[2].pk, dialogs[0].pk, 10**12]
    assert dialog_costs_recompute(dialog_ids=listed) == 3
    assert [stored_cost(dialog) for dialog in dialogs] == [1, 0, 1, 0, 1]
