"""`load_demo --with-history` (what `make run` runs): a month of demo dialogs in the demo
chat, consistent the way the live services would have left them, written once; and
the demo analyst who reads the demo chat and nothing else."""

from __future__ import annotations

import io
import re
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Chat, Client, Dialog, MarkerHit, Message, MessagePrice, PageVisit
from distributor.models import CustomerBinding, Operator
from handoff.demo_history import (
    DAILY_CLOSED_DIALOGS,
    OPEN_DIALOGS,
    RECENT_CLOSED_DIALOGS,
    demo_history_create,
)
from handoff.dialog_filters import DialogFilters, DialogStatusFilter
from handoff.enums import CloseReason, RequestStatus
from handoff.management.commands.load_demo import OPERATOR_USERNAME
from handoff.models import Feedback, Request, RequestEvent
from handoff.selectors_dialogs import dialogs_filtered
from reports.access import chats_for_analyst, is_analyst
from reports.management.commands.load_demo_analyst import ANALYST_PASSWORD, ANALYST_USERNAME
from tests.chats.factories import ChatFactory, ClientFactory, DialogFactory

pytestmark = pytest.mark.django_db

ALL_DIALOGS = DAILY_CLOSED_DIALOGS + RECENT_CLOSED_DIALOGS + OPEN_DIALOGS


def load_demo(*, with_history: bool = True) -> str:
    out = io.StringIO()
    call_command("load_demo", with_history=with_history, stdout=out)
    call_command("load_demo_analyst", stdout=out)
    return out.getvalue()


@pytest.fixture
def demo_chat() -> Chat:
    load_demo()
    return Chat.objects.get(public_key="demo")


def table_counts() -> dict[str, int]:
    models = [Client, Dialog, Message, MarkerHit, PageVisit, MessagePrice, Request]
    models += [RequestEvent, Feedback, Operator, CustomerBinding, get_user_model()]
    return {model.__name__: model.objects.count() for model in models}


def price_at(prices: list[MessagePrice], messenger: str, author_kind: str, at) -> Decimal:
    """The billing rule, written out again: client messages are inbound, the rest
    outbound; the price whose [valid_from, valid_until) holds the message's time."""
    direction = "inbound" if author_kind == AuthorKind.CLIENT else "outbound"
    matching = [
        price.price
        for price in prices
        if price.messenger == messenger
        and price.direction == direction
        and price.valid_from <= at
        and (price.valid_until is None or at < price.valid_until)
    ]
    assert len(matching) <= 1
    return matching[0] if matching else Decimal(0)


def messages_by_dialog() -> dict[int, list[Message]]:
    messages = defaultdict(list)
    for message in Message.objects.order_by("dialog_id", "sequence"):
        messages[message.dialog_id].append(message)
    return messages


def test_the_history_has_open_and_closed_dialogs_on_many_channels_and_days(demo_chat):
    # then
    dialogs = Dialog.objects.filter(chat=demo_chat)
    assert dialogs.count() == ALL_DIALOGS
    statuses = Counter(dialogs.values_list("status", flat=True))
    assert statuses == {
        DialogStatus.CLOSED: ALL_DIALOGS - OPEN_DIALOGS,
        DialogStatus.BOT: OPEN_DIALOGS,
    }
    channels = Counter(dialogs.values_list("messenger", flat=True))
    assert {Messenger.WEB, Messenger.TELEGRAM, Messenger.WHATSAPP, Messenger.VIBER} <= set(channels)
    assert len(channels) >= 6
    assert all(count >= 5 for count in channels.values())
    # over the last month, in the chat's time zone (Europe/Rome), nothing in the future
    now = timezone.now()
    zone = ZoneInfo(demo_chat.handoff_settings.time_zone)
    assert zone.key == "Europe/Rome"
    assert not demo_chat.handoff_settings.working_hours_enabled  # the live demo answers 24/7
    days = {
        started.astimezone(zone).date() for started in dialogs.values_list("started_at", flat=True)
    }
    assert len(days) >= 28
    assert min(days) >= (now - timedelta(days=31)).astimezone(zone).date()
    assert dialogs.filter(started_at__gt=now).count() == 0
    # the open ones are recent, the bot has them, and no request holds them
    open_dialogs = dialogs.filter(status=DialogStatus.BOT)
    assert all(now - dialog.last_message_at < timedelta(hours=2) for dialog in open_dialogs)
    assert not Request.objects.filter(status__in=Request.OPEN_STATUSES).exists()


def test_about_forty_percent_were_handed_to_operators_with_their_events(demo_chat):
    # then
    requests = Request.objects.filter(chat=demo_chat)
    closed_dialogs = Dialog.objects.filter(chat=demo_chat, status=DialogStatus.CLOSED).count()
    assert (
        0.3 * closed_dialogs <= requests.values("dialog").distinct().count() <= 0.5 * closed_dialogs
    )
    assert set(requests.values_list("status", flat=True)) == {RequestStatus.CLOSED}
    reasons = Counter(requests.values_list("close_reason", flat=True))
    assert {CloseReason.OPERATOR, CloseReason.LEAD_FORM, CloseReason.OPERATOR_IDLE} <= set(reasons)
    # every request starts pending; an accepted one names its operator as the actor
    for request in requests.prefetch_related("events").select_related("operator"):
        events = list(request.events.all())
        assert (events[0].from_status, events[0].to_status) == ("", RequestStatus.PENDING)
        assert events[-1].to_status == RequestStatus.CLOSED
        assert [event.created_at for event in events] == sorted(
            event.created_at for event in events
        )
        assert events[0].created_at == request.created_at
        assert events[-1].created_at == request.closed_at
        accepted = [event for event in events if event.to_status == RequestStatus.ACCEPTED]
        if request.accepted_at is None:
            assert request.operator is None and not accepted
        else:
            assert [event.actor for event in accepted] == [request.operator.user]
            assert request.created_at < request.accepted_at < request.closed_at
    # four operators answered, the demo operator among them
    operators = set(
        requests.exclude(operator=None).values_list("operator__user__username", flat=True)
    )
    assert len(operators) == 4
    assert OPERATOR_USERNAME in operators
    assert Operator.objects.filter(chats=demo_chat).count() == 4


def test_no_operator_response_has_dialogs_and_feedback_is_there(demo_chat):
    # then: the viewer's "no operator response" finds dialogs
    unanswered = dialogs_filtered(
        chat_ids={demo_chat.pk},
        filters=DialogFilters(status=DialogStatusFilter.NO_OPERATOR_RESPONSE),
    )
    assert unanswered.count() >= 10
    assert not Message.objects.filter(
        dialog__in=unanswered, author_kind=AuthorKind.OPERATOR
    ).exists()
    # ratings: of accepted requests, by their operator, on the chat's scale, varied
    feedback = Feedback.objects.filter(dialog__chat=demo_chat).select_related("request")
    assert feedback.count() >= 20
    scale = demo_chat.handoff_settings.feedback_scale
    for rating in feedback:
        assert rating.request.accepted_at is not None
        assert rating.operator_id == rating.request.operator_id
        assert rating.scale == scale and 1 <= rating.score <= scale
        assert rating.created_at > rating.request.closed_at
    assert len(set(feedback.values_list("score", flat=True))) >= 3
    # the rating prompt names its request, as the widget needs
    prompts = Message.objects.filter(dialog__chat=demo_chat, attachments__0__kind="rating")
    assert {prompt.attachments[0]["request"] for prompt in prompts} == set(
        Request.objects.filter(feedback_asked=True).values_list("pk", flat=True)
    )


def test_every_dialogs_cost_is_the_sum_of_its_messages_prices(demo_chat):
    # then: the demo prices, WhatsApp's outbound one in two periods
    prices = list(MessagePrice.objects.all())
    assert len(prices) == 6
    whatsapp_outbound = [
        price for price in prices if (price.messenger, price.direction) == ("whatsapp", "outbound")
    ]
    assert sorted(price.price for price in whatsapp_outbound) == [Decimal("0.04"), Decimal("0.05")]
    used = set()
    for dialog_id, messages in messages_by_dialog().items():
        dialog = Dialog.objects.get(pk=dialog_id)
        charged = [
            price_at(prices, dialog.messenger, m.author_kind, m.created_at) for m in messages
        ]
        assert dialog.cost == sum(charged, Decimal(0)), dialog_id
        if dialog.messenger == Messenger.WHATSAPP:
            used |= set(charged)
    # both WhatsApp periods were charged, and the free channels cost nothing
    assert {Decimal("0.04"), Decimal("0.05"), Decimal("0.005")} <= used
    assert Dialog.objects.filter(messenger=Messenger.WHATSAPP, cost__gt=0).exists()
    assert not Dialog.objects.filter(messenger=Messenger.WEB, cost__gt=0).exists()


def test_sequences_counts_and_times_are_consistent(demo_chat):
    now = timezone.now()
    for dialog in Dialog.objects.filter(chat=demo_chat):
        messages = list(dialog.messages.order_by("sequence"))
        # then: sequences 1..n, the counters the live services keep
        assert [message.sequence for message in messages] == list(range(1, len(messages) + 1))
        assert dialog.last_sequence == len(messages)
        clients = [message for message in messages if message.author_kind == AuthorKind.CLIENT]
        assert dialog.client_message_count == len(clients) >= 1
        assert all(message.author_name == dialog.client.name for message in clients)
        # times: after the start, in order, the last one is last_message_at; closed after it
        times = [message.created_at for message in messages]
        assert dialog.started_at <= times[0]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert dialog.last_message_at == times[-1]
        if dialog.status == DialogStatus.CLOSED:
            assert times[-1] <= dialog.closed_at <= now
        else:
            assert dialog.closed_at is None
        for marker in dialog.marker_hits.all():
            assert times[0] <= marker.created_at <= times[-1]
    # one open dialog per client at most (the live constraint), ever one at a time
    by_client = defaultdict(list)
    for dialog in Dialog.objects.filter(chat=demo_chat).order_by("started_at"):
        by_client[dialog.client_id].append(dialog)
    for dialogs in by_client.values():
        for earlier, later in zip(dialogs, dialogs[1:], strict=False):
            assert earlier.closed_at is not None and earlier.closed_at < later.started_at


def test_operator_messages_fall_in_their_requests_windows_mostly_within_the_sla(demo_chat):
    sla = demo_chat.handoff_settings.sla_first_response_seconds
    first_responses = []
    for request in Request.objects.filter(chat=demo_chat).exclude(accepted_at=None):
        written = Message.objects.filter(
            dialog=request.dialog,
            author_kind=AuthorKind.OPERATOR,
            created_at__gte=request.accepted_at,
            created_at__lt=request.closed_at,
        ).order_by("sequence")
        # then: what the operator wrote is attributed by the request's window
        assert set(written.values_list("author_name", flat=True)) <= {request.operator.display_name}
        if written:
            first_responses.append((written[0].created_at - request.created_at).total_seconds())
        else:
            assert request.close_reason == CloseReason.OPERATOR_IDLE
    operator_messages = Message.objects.filter(
        dialog__chat=demo_chat, author_kind=AuthorKind.OPERATOR
    ).count()
    attributed = sum(
        Message.objects.filter(
            dialog=request.dialog,
            author_kind=AuthorKind.OPERATOR,
            created_at__gte=request.accepted_at,
            created_at__lt=request.closed_at,
        ).count()
        for request in Request.objects.filter(chat=demo_chat).exclude(accepted_at=None)
    )
    assert attributed == operator_messages
    within = sum(seconds <= sla for seconds in first_responses)
    assert 0.6 * len(first_responses) <= within < len(first_responses)


def test_markers_pages_phrases_and_customers_are_there(demo_chat):
    # then: the bot's markers, pages only for web dialogs
    markers = Counter(
        MarkerHit.objects.filter(dialog__chat=demo_chat).values_list("marker", flat=True)
    )
    assert markers["faq_delivery"] >= 20 and markers["asked_price"] >= 20
    visits = PageVisit.objects.filter(dialog__chat=demo_chat)
    assert visits.count() >= 100
    assert set(visits.values_list("dialog__messenger", flat=True)) == {Messenger.WEB}
    # client phrases repeat across dialogs (popular phrases), a few in Russian and Italian
    texts = Counter(
        Message.objects.filter(dialog__chat=demo_chat, author_kind=AuthorKind.CLIENT).values_list(
            "text", flat=True
        )
    )
    assert sum(count >= 10 for count in texts.values()) >= 8
    assert any(re.search("[а-я]", text) for text in texts)
    assert any("ordine" in text or "spedizione" in text for text in texts)
    # customers bound to clients of the demo chat, one of them on two channels
    bindings = CustomerBinding.objects.filter(client__chat=demo_chat).select_related("client")
    customers = Counter(bindings.values_list("customer__email", flat=True))
    assert len(customers) >= 2
    assert customers["giulia.rossi@example.com"] == 2
    assert all(binding.client.name == binding.customer.name for binding in bindings)


def test_loading_twice_adds_nothing(demo_chat):
    before = table_counts()
    # when
    output = load_demo()
    # then
    assert table_counts() == before
    assert "none added" in output


def test_a_demo_chat_with_dialogs_gets_no_history():
    # given: the demo chat without history, and someone has chatted in it
    load_demo(with_history=False)
    chat = Chat.objects.get(public_key="demo")
    DialogFactory(chat=chat, client=ClientFactory(chat=chat))
    before = table_counts()
    # when
    output = load_demo()
    # then: nothing was added, not even prices
    assert table_counts() == before
    assert "none added" in output


def test_without_the_flag_the_demo_chat_has_no_history():
    load_demo(with_history=False)
    assert not Dialog.objects.exists()
    assert not MessagePrice.objects.exists()


def shapes(chat: Chat) -> list[tuple]:
    dialogs = Dialog.objects.filter(chat=chat).order_by("pk")
    return [
        (
            *dialog_fields,
            list(
                Message.objects.filter(dialog_id=dialog_fields[0]).values_list(
                    "author_kind", "text"
                )
            ),
        )
        for dialog_fields in dialogs.values_list(
            "pk", "messenger", "status", "started_at", "closed_at", "cost", "client__external_id"
        )
    ]


def test_the_history_is_the_same_every_time():
    # given: the demo chat given its history at a known moment, then emptied
    load_demo(with_history=False)
    chat = Chat.objects.get(public_key="demo")
    operator = Operator.objects.get(user__username=OPERATOR_USERNAME)
    now = timezone.now()
    assert demo_history_create(chat=chat, operator=operator, now=now) is not None
    first = [shape[1:] for shape in shapes(chat)]
    Client.objects.filter(chat=chat).delete()
    # when
    assert demo_history_create(chat=chat, operator=operator, now=now) is not None
    # then
    assert [shape[1:] for shape in shapes(chat)] == first
    assert len(first) == ALL_DIALOGS


def test_the_analyst_reads_the_demo_chat_and_nothing_else(demo_chat, client):
    # given: another chat with a dialog
    other = ChatFactory()
    DialogFactory(chat=other, client=ClientFactory(chat=other))
    analyst = get_user_model().objects.get(username=ANALYST_USERNAME)
    # then
    assert is_analyst(analyst)
    assert not analyst.is_staff and not analyst.is_superuser
    assert analyst.check_password(ANALYST_PASSWORD)
    assert list(chats_for_analyst(analyst)) == [demo_chat]
    # and loading again keeps one grant
    load_demo()
    assert list(chats_for_analyst(analyst)) == [demo_chat]
    assert analyst.analyst_chat_grants.count() == 1
