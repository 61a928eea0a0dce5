"""The viewer's filters (handoff.dialog_filters.DialogFilters) and the dialogs they select
(handoff.selectors_dialogs): every filter, bad values, other analysts' chats, and dates as
calendar days of each chat's time zone, a DST change included."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.http import QueryDict

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import MarkerHit, Message
from handoff.dialog_filters import DialogFilters, DialogStatusFilter
from handoff.enums import RequestReason, RequestStatus
from handoff.models import HandoffSettings, Request
from handoff.selectors_dialogs import dialogs_filtered, local_day_start
from reports.selectors import dialogs_for_analyst
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory, UserFactory
from tests.reports.test_access import make_analyst

pytestmark = pytest.mark.django_db

ROME = ZoneInfo("Europe/Rome")


def query(text: str) -> DialogFilters:
    return DialogFilters.from_query(QueryDict(text))


def say(dialog, author_kind: str, text: str = "hello", at: datetime.datetime | None = None):
    sequence = dialog.messages.count() + 1
    return Message.objects.create(
        dialog=dialog,
        sequence=sequence,
        author_kind=author_kind,
        text=text,
        created_at=at or dialog.started_at + datetime.timedelta(seconds=sequence),
    )


def request_for(dialog, **fields) -> Request:
    fields.setdefault("reason", RequestReason.HEADSET)
    fields.setdefault("status", RequestStatus.CLOSED)
    return Request.objects.create(dialog=dialog, chat=dialog.chat, **fields)


def selected(filters: DialogFilters, *chats) -> set[str]:
    chat_ids = {chat.pk for chat in chats}
    return set(
        dialogs_filtered(chat_ids=chat_ids, filters=filters).values_list("session_id", flat=True)
    )


def in_zone(chat, zone: str) -> None:
    HandoffSettings.objects.update_or_create(chat=chat, defaults={"time_zone": zone})


# --- reading the query string ---------------------------------------------------


def test_an_empty_query_means_everything():
    filters = query("")

    assert filters == DialogFilters()
    assert filters.errors == {}


def test_every_filter_is_read():
    filters = query(
        "chat=3&chat=1&messenger=telegram&messenger=web&status=closed&date_from=2026-03-01"
        "&date_to=2026-03-31&marker=lead&operator=7&text=refund"
    )

    assert filters.chat_ids == (1, 3)
    assert filters.messengers == ("telegram", "web")
    assert filters.status == DialogStatusFilter.CLOSED
    assert filters.date_from == datetime.date(2026, 3, 1)
    assert filters.date_to == datetime.date(2026, 3, 31)
    assert (filters.marker, filters.operator_id, filters.text) == ("lead", 7, "refund")
    assert filters.errors == {}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("chat=abc", "chat"),
        ("chat=-4", "chat"),
        ("chat=0", "chat"),
        ("chat=99999999999999999999999", "chat"),
        ("messenger=icq", "messenger"),
        ("status=open", "status"),
        ("date_from=2026-02-30", "date_from"),
        ("date_to=yesterday", "date_to"),
        ("operator=x", "operator"),
        ("operator=0", "operator"),
        ("marker=" + "m" * 101, "marker"),
        ("text=" + "t" * 201, "text"),
    ],
)
def test_a_bad_value_is_reported_and_ignored(text, field):
    filters = query(text)

    assert set(filters.errors) == {field}
    assert filters.to_json() == {}


def test_a_bad_value_leaves_the_good_ones():
    filters = query("chat=2&chat=zzz&messenger=viber&messenger=icq&status=closed")

    assert filters.chat_ids == (2,)
    assert filters.messengers == ("viber",)
    assert filters.status == DialogStatusFilter.CLOSED
    assert set(filters.errors) == {"chat", "messenger"}


def test_an_end_before_the_start_is_reported_and_dropped():
    filters = query("date_from=2026-03-10&date_to=2026-03-01")

    assert filters.date_from == datetime.date(2026, 3, 10)
    assert filters.date_to is None
    assert "date_to" in filters.errors


def test_nul_and_lone_surrogates_are_cleaned_from_text():
    filters = DialogFilters.from_query({"text": "a\x00b\ud800c", "marker": "\udfffm"})

    assert "\x00" not in filters.text
    filters.text.encode("utf-8")  # would raise on a lone surrogate
    filters.marker.encode("utf-8")


def test_filters_go_through_a_query_string_and_json_unchanged():
    filters = query(
        "chat=1&messenger=web&status=no_operator_response&date_from=2026-03-29&text=a b"
    )

    assert query(filters.to_query()) == filters
    assert DialogFilters.from_json(filters.to_json()) == filters


def test_stored_filters_that_are_malformed_are_refused():
    with pytest.raises(ValidationError):
        DialogFilters.from_json({"status": "bogus"})
    with pytest.raises(ValidationError):
        DialogFilters.from_json(["chat", 1])


# --- selecting dialogs -----------------------------------------------------------


def test_the_chat_filter_selects_that_chat():
    first, _second = DialogFactory(), DialogFactory()
    staff = UserFactory(username="boss", is_staff=True)

    found = dialogs_for_analyst(user=staff, filters=DialogFilters(chat_ids=(first.chat_id,)))

    assert list(found) == [first]


def test_a_chat_the_user_may_not_read_selects_nothing():
    mine, theirs = DialogFactory(), DialogFactory()
    analyst = make_analyst("ann", chats=[mine.chat])

    asked_for_theirs = dialogs_for_analyst(
        user=analyst, filters=DialogFilters(chat_ids=(theirs.chat_id,))
    )
    asked_for_both = dialogs_for_analyst(
        user=analyst, filters=DialogFilters(chat_ids=(theirs.chat_id, mine.chat_id))
    )
    no_access = dialogs_for_analyst(user=UserFactory(username="x"), filters=DialogFilters())

    assert list(asked_for_theirs) == []
    assert list(asked_for_both) == [mine]
    assert list(no_access) == []


def test_the_messenger_filter_selects_any_of_the_channels():
    chat = ChatFactory()
    web = DialogFactory(client__chat=chat, client__messenger=Messenger.WEB)
    telegram = DialogFactory(client__chat=chat, client__messenger=Messenger.TELEGRAM)
    DialogFactory(client__chat=chat, client__messenger=Messenger.VIBER)

    assert selected(DialogFilters(messengers=("telegram",)), chat) == {telegram.session_id}
    assert selected(DialogFilters(messengers=("telegram", "web")), chat) == {
        web.session_id,
        telegram.session_id,
    }


def test_active_and_closed():
    chat = ChatFactory()
    open_ones = {
        DialogFactory(client__chat=chat, status=status).session_id
        for status in (DialogStatus.BOT, DialogStatus.WAITING, DialogStatus.OPERATOR)
    }
    closed = DialogFactory(client__chat=chat, status=DialogStatus.CLOSED)

    assert selected(DialogFilters(status=DialogStatusFilter.ACTIVE), chat) == open_ones
    assert selected(DialogFilters(status=DialogStatusFilter.CLOSED), chat) == {closed.session_id}
    assert len(selected(DialogFilters(status=DialogStatusFilter.ALL), chat)) == 4


def test_no_operator_response_is_a_request_opened_and_no_operator_message_ever():
    chat = ChatFactory()
    # asked for a person; the bot and the system spoke, no operator did
    unanswered = DialogFactory(client__chat=chat)
    request_for(unanswered, status=RequestStatus.CLOSED)
    say(unanswered, AuthorKind.CLIENT)
    say(unanswered, AuthorKind.BOT)
    say(unanswered, AuthorKind.SYSTEM)
    # still waiting for someone, nothing said yet
    waiting = DialogFactory(client__chat=chat, status=DialogStatus.WAITING)
    request_for(waiting, status=RequestStatus.PENDING)
    # asked, and an operator answered
    answered = DialogFactory(client__chat=chat)
    request_for(answered)
    say(answered, AuthorKind.OPERATOR)
    # the bot alone: no person was asked for
    bot_only = DialogFactory(client__chat=chat)
    say(bot_only, AuthorKind.BOT)
    # answered by an operator on a first request, a second one unanswered: an operator did respond
    twice = DialogFactory(client__chat=chat)
    request_for(twice)
    say(twice, AuthorKind.OPERATOR)
    request_for(twice, status=RequestStatus.CLOSED)

    found = selected(DialogFilters(status=DialogStatusFilter.NO_OPERATOR_RESPONSE), chat)

    assert found == {unanswered.session_id, waiting.session_id}


def test_dates_are_calendar_days_in_each_chats_time_zone():
    rome, tokyo = ChatFactory(), ChatFactory()
    in_zone(rome, "Europe/Rome")
    in_zone(tokyo, "Asia/Tokyo")
    # 2026-01-10 23:30 UTC is the 11th in Rome (00:30) and in Tokyo (08:30)
    late = datetime.datetime(2026, 1, 10, 23, 30, tzinfo=datetime.UTC)
    # 2026-01-10 15:30 UTC is the 10th in Rome (16:30), the 11th in Tokyo (00:30)
    afternoon = datetime.datetime(2026, 1, 10, 15, 30, tzinfo=datetime.UTC)
    rome_late = DialogFactory(client__chat=rome, started_at=late)
    rome_afternoon = DialogFactory(client__chat=rome, started_at=afternoon)
    tokyo_afternoon = DialogFactory(client__chat=tokyo, started_at=afternoon)

    day = datetime.date(2026, 1, 11)
    found = selected(DialogFilters(date_from=day, date_to=day), rome, tokyo)

    assert found == {rome_late.session_id, tokyo_afternoon.session_id}
    assert rome_afternoon.session_id not in found


def test_a_chat_without_handoff_settings_counts_days_in_utc():
    chat = ChatFactory()
    HandoffSettings.objects.filter(chat=chat).delete()
    inside = DialogFactory(
        client__chat=chat, started_at=datetime.datetime(2026, 1, 11, 0, 0, tzinfo=datetime.UTC)
    )
    DialogFactory(
        client__chat=chat,
        started_at=datetime.datetime(2026, 1, 10, 23, 59, 59, tzinfo=datetime.UTC),
    )

    day = datetime.date(2026, 1, 11)
    assert selected(DialogFilters(date_from=day, date_to=day), chat) == {inside.session_id}


@pytest.mark.parametrize(
    ("day", "hours"),
    [(datetime.date(2026, 3, 29), 23), (datetime.date(2026, 10, 25), 25)],
)
def test_a_dst_change_day_is_selected_whole(day, hours):
    chat = ChatFactory()
    in_zone(chat, "Europe/Rome")
    # in UTC: arithmetic on aware local times is wall-clock arithmetic
    start = local_day_start(day, "Europe/Rome").astimezone(datetime.UTC)
    end = local_day_start(day + datetime.timedelta(days=1), "Europe/Rome").astimezone(datetime.UTC)
    assert end - start == datetime.timedelta(hours=hours)
    first = DialogFactory(client__chat=chat, started_at=start)
    last = DialogFactory(client__chat=chat, started_at=end - datetime.timedelta(seconds=1))
    DialogFactory(client__chat=chat, started_at=start - datetime.timedelta(seconds=1))
    DialogFactory(client__chat=chat, started_at=end)

    found = selected(DialogFilters(date_from=day, date_to=day), chat)

    assert found == {first.session_id, last.session_id}


def test_a_day_whose_midnight_is_skipped_starts_at_its_first_instant():
    # Havana moves its clocks from 00:00 to 01:00 on 2026-03-08
    chat = ChatFactory()
    in_zone(chat, "America/Havana")
    zone = ZoneInfo("America/Havana")
    start = local_day_start(datetime.date(2026, 3, 8), "America/Havana")
    assert (start.hour, start.minute) == (1, 0)
    first = DialogFactory(client__chat=chat, started_at=start)
    day_before = DialogFactory(
        client__chat=chat,
        started_at=start.astimezone(datetime.UTC) - datetime.timedelta(seconds=1),
    )
    assert day_before.started_at.astimezone(zone).date() == datetime.date(2026, 3, 7)

    day = datetime.date(2026, 3, 8)
    assert selected(DialogFilters(date_from=day, date_to=day), chat) == {first.session_id}
    before = datetime.date(2026, 3, 7)
    assert selected(DialogFilters(date_from=before, date_to=before), chat) == {
        day_before.session_id
    }


def test_an_open_ended_date_range():
    chat = ChatFactory()
    old = DialogFactory(
        client__chat=chat, started_at=datetime.datetime(2025, 6, 1, 12, tzinfo=datetime.UTC)
    )
    new = DialogFactory(
        client__chat=chat, started_at=datetime.datetime(2026, 6, 1, 12, tzinfo=datetime.UTC)
    )

    assert selected(DialogFilters(date_from=datetime.date(2026, 1, 1)), chat) == {new.session_id}
    assert selected(DialogFilters(date_to=datetime.date(2025, 12, 31)), chat) == {old.session_id}


def test_the_marker_filter_matches_the_whole_marker():
    chat = ChatFactory()
    lead = DialogFactory(client__chat=chat)
    MarkerHit.objects.create(dialog=lead, marker="lead")
    MarkerHit.objects.create(dialog=lead, marker="lead")  # hit twice: listed once
    other = DialogFactory(client__chat=chat)
    MarkerHit.objects.create(dialog=other, marker="leads-page")

    assert list(dialogs_filtered(chat_ids={chat.pk}, filters=DialogFilters(marker="lead"))) == [
        lead
    ]


def test_the_operator_filter_selects_the_dialogs_an_operator_took():
    chat = ChatFactory()
    ann, bob = OperatorFactory(chats=[chat]), OperatorFactory(chats=[chat])
    by_ann = DialogFactory(client__chat=chat)
    request_for(by_ann, operator=ann)
    by_bob_then_ann = DialogFactory(client__chat=chat)
    request_for(by_bob_then_ann, operator=bob)
    request_for(by_bob_then_ann, operator=ann)
    only_bob = DialogFactory(client__chat=chat)
    request_for(only_bob, operator=bob)

    assert selected(DialogFilters(operator_id=ann.pk), chat) == {
        by_ann.session_id,
        by_bob_then_ann.session_id,
    }


def test_the_text_filter_finds_a_word_in_any_message_ignoring_case():
    chat = ChatFactory()
    asked = DialogFactory(client__chat=chat)
    say(asked, AuthorKind.CLIENT, "hi")
    say(asked, AuthorKind.CLIENT, "I want a REFUND please")
    answered = DialogFactory(client__chat=chat)
    say(answered, AuthorKind.OPERATOR, "Refunds take a week")
    quiet = DialogFactory(client__chat=chat)
    say(quiet, AuthorKind.CLIENT, "thanks")

    assert selected(DialogFilters(text="refund"), chat) == {
        asked.session_id,
        answered.session_id,
    }


def test_the_text_filter_takes_like_wildcards_literally():
    chat = ChatFactory()
    percent = DialogFactory(client__chat=chat)
    say(percent, AuthorKind.CLIENT, "50% off")
    plain = DialogFactory(client__chat=chat)
    say(plain, AuthorKind.CLIENT, "500 off")

    assert selected(DialogFilters(text="0%"), chat) == {percent.session_id}
    assert selected(DialogFilters(text="_"), chat) == set()


def test_filters_combine():
    chat = ChatFactory()
    in_zone(chat, "Europe/Rome")
    day = datetime.datetime(2026, 3, 29, 10, tzinfo=ROME)
    match = DialogFactory(
        client__chat=chat,
        client__messenger=Messenger.TELEGRAM,
        status=DialogStatus.CLOSED,
        started_at=day,
    )
    say(match, AuthorKind.CLIENT, "refund")
    MarkerHit.objects.create(dialog=match, marker="lead")
    near_miss = DialogFactory(
        client__chat=chat,
        client__messenger=Messenger.WEB,
        status=DialogStatus.CLOSED,
        started_at=day,
    )
    say(near_miss, AuthorKind.CLIENT, "refund")
    MarkerHit.objects.create(dialog=near_miss, marker="lead")

    filters = query(
        "messenger=telegram&status=closed&date_from=2026-03-29&date_to=2026-03-29"
        "&marker=lead&text=refund"
    )

    assert selected(filters, chat) == {match.session_id}


def test_newest_first():
    chat = ChatFactory()
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    older = DialogFactory(client__chat=chat, started_at=base)
    newer = DialogFactory(client__chat=chat, started_at=base + datetime.timedelta(hours=1))

    assert list(dialogs_filtered(chat_ids={chat.pk}, filters=DialogFilters())) == [newer, older]


def test_on_postgresql_the_text_search_has_its_trigram_index():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the trigram index is made on PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'message_text_trigram'")
        (definition,) = cursor.fetchone()

    assert "gin_trgm_ops" in definition and "upper(text)" in definition
