"""Distribution: the auto-reply a client gets when a request opens, automatic offers
(least loaded online eligible manager under their cap, ties to the longest idle), offer
expiry and rejection, the drain, and what broadcast keeps as it was."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from chats.enums import AuthorKind
from chats.models import Message
from distributor.enums import DistributionMode, Presence, RouteTarget
from distributor.models import ChatDistribution, Operator, OperatorChannel, RoutingRule
from distributor.services import chat_distribution_for, operator_presence_set
from handoff.enums import CloseReason, RequestStatus
from handoff.models import HandoffSettings, Request, RequestEvent, WorkingPeriod
from handoff.services import (
    IllegalTransition,
    OfferedToAnother,
    OperatorAtCapacity,
    deadlines_sweep,
    request_accept,
    request_close,
    request_offer_expire,
    request_open,
    request_reject,
    request_transfer,
    requests_drain,
)
from tests.chats.factories import ChatFactory, ClientFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def distribution(chat, **fields) -> ChatDistribution:
    settings = chat_distribution_for(chat)
    for name, value in fields.items():
        setattr(settings, name, value)
    settings.save()
    return settings


def manager(chat, name, *, presence=Presence.ONLINE, cap=5, idle_minutes=0, **kwargs):
    return OperatorFactory(
        display_name=name,
        chats=[chat],
        presence=presence,
        max_simultaneous_dialogs=cap,
        idle_since=timezone.now() - timedelta(minutes=idle_minutes),
        **kwargs,
    )


def ask(chat, messenger="web", **kwargs) -> Request:
    dialog = DialogFactory(client=ClientFactory(chat=chat, messenger=messenger))
    return request_open(dialog=dialog, reason="headset", **kwargs)


def last_system_text(request_or_dialog) -> str:
    dialog_id = getattr(request_or_dialog, "dialog_id", None) or request_or_dialog.pk
    return (
        Message.objects.filter(dialog_id=dialog_id, author_kind=AuthorKind.SYSTEM)
        .order_by("sequence")
        .last()
        .text
    )


def fresh(request) -> Request:
    return Request.objects.get(pk=request.pk)


@pytest.fixture
def chat():
    return ChatFactory()


@pytest.fixture
def automatic(chat):
    return distribution(chat, mode=DistributionMode.AUTOMATIC, offer_timeout_seconds=30)


# --- auto-replies -------------------------------------------------------------------


def test_nobody_eligible_online_gets_the_offline_reply(chat):
    distribution(chat, reply_offline="Nobody here.")
    manager(chat, "Olga", presence=Presence.OFFLINE)
    manager(chat, "Ivan", presence=Presence.AWAY)
    assert last_system_text(ask(chat)) == "Nobody here."


def test_a_chat_without_managers_gets_the_offline_reply(chat):
    distribution(chat, reply_offline="Nobody here.")
    assert last_system_text(ask(chat)) == "Nobody here."


def test_an_online_manager_with_a_free_slot_gets_the_received_reply(chat):
    distribution(chat, reply_received="Got it.")
    manager(chat, "Olga")
    assert last_system_text(ask(chat)) == "Got it."


def test_every_online_manager_at_their_cap_gets_the_all_busy_reply(chat):
    distribution(chat, reply_all_busy="All busy.", reply_received="Got it.")
    olga = manager(chat, "Olga", cap=1)
    manager(chat, "Ivan", presence=Presence.OFFLINE)  # free, but offline
    request_accept(request=ask(chat), operator=olga)
    assert last_system_text(ask(chat)) == "All busy."


def test_a_manager_whose_presence_expired_counts_as_offline(chat):
    distribution(chat, reply_offline="Nobody here.")
    manager(chat, "Olga", presence_expires_at=timezone.now() - timedelta(seconds=1))
    assert last_system_text(ask(chat)) == "Nobody here."


def test_a_manager_of_another_channel_does_not_count(chat):
    distribution(chat, reply_offline="Nobody here.", reply_received="Got it.")
    olga = manager(chat, "Olga")
    OperatorChannel.objects.create(operator=olga, chat=chat, messenger="telegram")
    assert last_system_text(ask(chat, messenger="web")) == "Nobody here."
    assert last_system_text(ask(chat, messenger="telegram")) == "Got it."


def test_a_manager_outside_the_rules_set_does_not_count(chat):
    settings = distribution(chat, reply_offline="Nobody here.", reply_received="Got it.")
    manager(chat, "Olga")
    ivan = manager(chat, "Ivan", presence=Presence.OFFLINE)
    rule = RoutingRule.objects.create(distribution=settings, messenger="web", target="bot")
    rule.managers.add(ivan)
    assert last_system_text(ask(chat)) == "Nobody here."


def test_a_manager_of_another_chat_does_not_count(chat):
    distribution(chat, reply_offline="Nobody here.")
    manager(ChatFactory(), "Olga")
    assert last_system_text(ask(chat)) == "Nobody here."


ROME = ZoneInfo("Europe/Rome")


def office_hours(chat, periods=((0, 9, 18),)):
    settings, _created = HandoffSettings.objects.get_or_create(chat=chat)
    settings.working_hours_enabled = True
    settings.time_zone = "Europe/Rome"
    settings.save()
    for weekday, start, end in periods:
        WorkingPeriod.objects.create(
            settings=settings, weekday=weekday, starts_at=time(start), ends_at=time(end)
        )


def test_outside_hours_the_reply_names_the_nearest_window_and_no_request_opens(chat):
    distribution(chat, reply_outside_hours="Closed. Back {hours}!")
    office_hours(chat)
    manager(chat, "Olga")
    saturday_noon = datetime(2026, 11, 21, 12, tzinfo=ROME)
    dialog = DialogFactory(client__chat=chat)
    assert request_open(dialog=dialog, reason="headset", now=saturday_noon) is None
    assert last_system_text(dialog) == "Closed. Back Mon 09:00–18:00!"
    assert Request.objects.count() == 0


def test_outside_hours_with_no_window_at_all_the_offline_reply_is_given(chat):
    distribution(chat, reply_offline="Nobody here.")
    office_hours(chat, periods=())
    dialog = DialogFactory(client__chat=chat)
    assert request_open(dialog=dialog, reason="headset") is None
    assert last_system_text(dialog) == "Nobody here."


def test_the_default_replies_are_made_in_the_chats_language():
    chat = ChatFactory(language="ru")
    request = ask(chat)
    assert last_system_text(request) == ChatDistribution.objects.get(chat=chat).reply_offline


# --- broadcast keeps today's behaviour -----------------------------------------------


def test_broadcast_offers_to_nobody_and_anyone_eligible_may_accept(chat):
    manager(chat, "Olga")
    ivan = manager(chat, "Ivan", presence=Presence.OFFLINE)
    request = ask(chat)
    assert (fresh(request).offered_to, fresh(request).offer_deadline) == (None, None)
    request_accept(request=request, operator=ivan)
    assert fresh(request).operator == ivan


# --- automatic: who gets the offer ----------------------------------------------------


def test_the_least_loaded_online_manager_gets_the_offer(chat, automatic):
    busy = manager(chat, "Busy", idle_minutes=60)
    manager(chat, "Free")
    request_accept(request=ask(chat), operator=busy)
    before = timezone.now()
    # when
    request = ask(chat)
    # then
    stored = fresh(request)
    assert stored.offered_to.display_name == "Free"
    assert before + timedelta(seconds=30) <= stored.offer_deadline
    assert stored.offer_deadline <= timezone.now() + timedelta(seconds=30)
    assert stored.status == RequestStatus.PENDING
    assert RequestEvent.objects.filter(request=request, note="offered to Free").exists()


def test_equal_load_goes_to_the_longest_idle(chat, automatic):
    manager(chat, "Recent", idle_minutes=1)
    manager(chat, "Longest", idle_minutes=30)
    manager(chat, "Middle", idle_minutes=10)
    assert fresh(ask(chat)).offered_to.display_name == "Longest"


def test_an_offer_counts_in_the_load(chat, automatic):
    manager(chat, "Olga", idle_minutes=30)
    manager(chat, "Ivan", idle_minutes=1)
    first, second = ask(chat), ask(chat)
    assert fresh(first).offered_to.display_name == "Olga"
    assert fresh(second).offered_to.display_name == "Ivan"


def test_offline_away_and_full_managers_get_no_offer(chat, automatic):
    manager(chat, "Offline", presence=Presence.OFFLINE, idle_minutes=90)
    manager(chat, "Away", presence=Presence.AWAY, idle_minutes=90)
    full = manager(chat, "Full", cap=1, idle_minutes=90)
    request_accept(request=ask(chat), operator=full)
    manager(chat, "Olga")
    assert fresh(ask(chat)).offered_to.display_name == "Olga"


def test_nobody_free_leaves_the_request_waiting_unoffered(chat, automatic):
    automatic.reply_all_busy = "All busy."
    automatic.save()
    olga = manager(chat, "Olga", cap=1)
    request_accept(request=ask(chat), operator=olga)
    request = ask(chat)
    assert (fresh(request).status, fresh(request).offered_to) == (RequestStatus.PENDING, None)
    assert last_system_text(request) == "All busy."


def test_an_offer_respects_the_channel_and_the_rules_set(chat, automatic):
    telegram_only = manager(chat, "Telegram only", idle_minutes=90)
    OperatorChannel.objects.create(operator=telegram_only, chat=chat, messenger="telegram")
    manager(chat, "Not in the set", idle_minutes=60)
    chosen = manager(chat, "Chosen")
    rule = RoutingRule.objects.create(distribution=automatic, messenger="web", target="bot")
    rule.managers.add(chosen, telegram_only)
    assert fresh(ask(chat)).offered_to == chosen


def test_an_offered_request_may_be_accepted_only_by_whom_it_is_offered_to(chat, automatic):
    olga = manager(chat, "Olga", idle_minutes=30)
    ivan = manager(chat, "Ivan")
    request = ask(chat)
    assert fresh(request).offered_to == olga
    events = RequestEvent.objects.count()
    # when
    with pytest.raises(OfferedToAnother) as refused:
        request_accept(request=request, operator=ivan)
    # then
    assert refused.value.code == "offered_to_another"
    assert (fresh(request).status, fresh(request).offered_to) == (RequestStatus.PENDING, olga)
    assert RequestEvent.objects.count() == events
    request_accept(request=request, operator=olga)
    stored = fresh(request)
    assert (stored.status, stored.operator, stored.offered_to, stored.offer_deadline) == (
        RequestStatus.ACCEPTED,
        olga,
        None,
        None,
    )


def test_an_unoffered_waiting_request_may_be_accepted_by_anyone_eligible(chat, automatic):
    olga = manager(chat, "Olga", cap=1)
    request_accept(request=ask(chat), operator=olga)
    request = ask(chat)
    ivan = manager(chat, "Ivan", presence=Presence.OFFLINE)
    request_accept(request=request, operator=ivan)
    assert fresh(request).operator == ivan


# --- automatic: offers that time out or are passed on --------------------------------


def test_an_offer_not_taken_in_time_goes_to_the_next_and_the_first_is_told(chat, automatic):
    olga = manager(chat, "Olga", idle_minutes=30)
    ivan = manager(chat, "Ivan")
    request = ask(chat)
    later = fresh(request).offer_deadline + timedelta(seconds=1)
    # when
    deadlines_sweep(now=later)
    # then
    stored = fresh(request)
    assert stored.offered_to == ivan
    assert stored.offer_deadline == later + timedelta(seconds=30)
    assert list(stored.rejected_by.all()) == [olga]
    notes = list(stored.events.values_list("note", flat=True))
    assert notes[-2:] == ["offer to Olga timed out", "offered to Ivan"]


def test_a_second_sweep_of_the_same_offer_does_nothing(chat, automatic):
    manager(chat, "Olga", idle_minutes=30)
    manager(chat, "Ivan")
    request = ask(chat)
    later = fresh(request).offer_deadline + timedelta(seconds=1)
    expired = request_offer_expire(request=fresh(request), now=later)
    # the surfaces announce() tells learn whose offer it was (they drop it there)
    assert expired.offer_withdrawn_from == Operator.objects.get(display_name="Olga").pk
    events = RequestEvent.objects.count()
    request_offer_expire(request=fresh(request), now=later)
    assert RequestEvent.objects.count() == events


def test_an_offer_not_yet_due_is_left_alone(chat, automatic):
    olga = manager(chat, "Olga")
    request = ask(chat)
    request_offer_expire(request=fresh(request), now=timezone.now())
    assert fresh(request).offered_to == olga


def test_when_everyone_has_passed_the_request_waits_for_any_accept(chat, automatic):
    olga = manager(chat, "Olga")
    request = ask(chat)
    deadlines_sweep(now=fresh(request).offer_deadline + timedelta(seconds=1))
    stored = fresh(request)
    assert (stored.status, stored.offered_to, stored.offer_deadline) == ("pending", None, None)
    # nobody is offered it again by the drain, but anyone eligible may still accept it
    assert requests_drain(chat_ids=[chat.pk]) == 0
    request_accept(request=request, operator=olga)
    assert fresh(request).operator == olga


def test_a_rejected_offer_goes_to_the_next_at_once(chat, automatic):
    olga = manager(chat, "Olga", idle_minutes=30)
    ivan = manager(chat, "Ivan")
    request = ask(chat)
    # when
    rejected = request_reject(request=request, operator=olga)
    # then
    assert (rejected.offered_to, rejected.offer_withdrawn_from) == (ivan, olga.pk)
    stored = fresh(request)
    assert stored.offered_to == ivan
    assert list(stored.rejected_by.all()) == [olga]
    assert stored.events.filter(note="rejected by Olga", actor=olga.user).exists()


def test_a_reject_by_someone_else_leaves_the_offer(chat, automatic):
    olga = manager(chat, "Olga", idle_minutes=30)
    ivan = manager(chat, "Ivan")
    request = ask(chat)
    request_reject(request=request, operator=ivan)
    assert fresh(request).offered_to == olga
    assert list(fresh(request).rejected_by.all()) == [ivan]


def test_a_reject_of_a_request_no_longer_waiting_changes_nothing(chat, automatic):
    olga = manager(chat, "Olga")
    request = ask(chat)
    request_accept(request=request, operator=olga)
    events = RequestEvent.objects.count()
    with pytest.raises(IllegalTransition):
        request_reject(request=request, operator=olga)
    assert RequestEvent.objects.count() == events
    assert (fresh(request).status, list(fresh(request).rejected_by.all())) == ("accepted", [])


def test_an_offer_expiring_after_a_switch_to_broadcast_is_offered_to_nobody(chat, automatic):
    manager(chat, "Olga", idle_minutes=30)
    manager(chat, "Ivan")
    request = ask(chat)
    distribution(chat, mode=DistributionMode.BROADCAST)
    deadlines_sweep(now=fresh(request).offer_deadline + timedelta(seconds=1))
    assert fresh(request).offered_to is None


def test_a_closed_offered_request_frees_the_offer(
    chat, automatic, django_capture_on_commit_callbacks
):
    manager(chat, "Olga")
    request = ask(chat)
    with django_capture_on_commit_callbacks() as callbacks:
        request_close(request=request, reason=CloseReason.CLIENT)
    assert (fresh(request).offered_to, fresh(request).offer_deadline) == (None, None)
    assert callbacks  # the drain is asked for: Olga has a slot again


# --- the drain -----------------------------------------------------------------------


def test_a_manager_coming_online_is_offered_the_waiting_requests_in_order(chat, automatic):
    olga = manager(chat, "Olga", presence=Presence.OFFLINE, cap=2)
    first, second, third = ask(chat), ask(chat), ask(chat)
    assert {fresh(r).offered_to for r in (first, second, third)} == {None}
    operator_presence_set(operator=olga, presence="online")
    # when (the task the presence change sent runs this)
    offered = requests_drain(chat_ids=None, operator_id=olga.pk)
    # then
    assert offered == 2
    assert [fresh(r).offered_to for r in (first, second, third)] == [olga, olga, None]
    # and running it again changes nothing
    assert requests_drain(chat_ids=None, operator_id=olga.pk) == 0


def test_a_slot_freed_by_a_close_goes_to_the_oldest_waiting(chat, automatic):
    olga = manager(chat, "Olga", cap=1)
    held = ask(chat)
    request_accept(request=held, operator=olga)
    waiting = [ask(chat), ask(chat)]
    request_close(request=held, reason=CloseReason.OPERATOR, actor=olga)
    assert requests_drain(chat_ids=[chat.pk]) == 1
    assert [fresh(r).offered_to for r in waiting] == [olga, None]
    assert Operator.objects.get(pk=olga.pk).idle_since >= fresh(held).closed_at


def test_the_drain_leaves_broadcast_chats_alone(chat):
    request = ask(chat)
    manager(chat, "Olga")
    assert requests_drain(chat_ids=[chat.pk]) == 0
    assert fresh(request).offered_to is None


def test_the_drain_of_unknown_chats_does_nothing(automatic):
    assert requests_drain(chat_ids=[10**9]) == 0
    assert requests_drain(chat_ids=[]) == 0


def test_the_sweep_drains_as_a_backstop(chat, automatic):
    request = ask(chat)
    olga = manager(chat, "Olga")  # online without the task (e.g. written in Admin)
    deadlines_sweep()
    assert fresh(request).offered_to == olga


def test_the_sweep_turns_expired_presences_offline(chat):
    olga = manager(chat, "Olga", presence_expires_at=timezone.now() + timedelta(seconds=5))
    deadlines_sweep(now=timezone.now() + timedelta(seconds=6))
    assert Operator.objects.get(pk=olga.pk).presence == Presence.OFFLINE


def test_an_expired_presence_gets_no_new_offer(chat, automatic):
    now = timezone.now()
    manager(chat, "Olga", presence_expires_at=now + timedelta(seconds=5))
    request = ask(chat, now=now + timedelta(seconds=6))
    assert fresh(request).offered_to is None


def test_a_routing_target_of_bot_still_routes_requests_to_its_set(chat, automatic):
    chosen = manager(chat, "Chosen")
    manager(chat, "Other", idle_minutes=60)
    rule = RoutingRule.objects.create(
        distribution=automatic, messenger="web", target=RouteTarget.BOT
    )
    rule.managers.add(chosen)
    assert fresh(ask(chat)).offered_to == chosen


def test_a_manager_whose_slots_are_offered_cannot_grab_another_request(chat, automatic):
    olga = manager(chat, "Olga", cap=1)
    offered = ask(chat)
    assert fresh(offered).offered_to == olga
    other = ask(chat)  # nobody free: waits unoffered
    events = RequestEvent.objects.count()
    # when
    with pytest.raises(OperatorAtCapacity) as refused:
        request_accept(request=other, operator=olga)
    # then
    assert "1 offered to you" in str(refused.value)
    assert (fresh(other).status, fresh(other).operator) == (RequestStatus.PENDING, None)
    assert RequestEvent.objects.count() == events
    # and the one offered to her she may accept
    request_accept(request=offered, operator=olga)
    assert fresh(offered).operator == olga


def test_a_slot_freed_by_a_transfer_goes_to_the_oldest_waiting(
    chat, automatic, django_capture_on_commit_callbacks
):
    olga = manager(chat, "Olga", cap=1)
    held = ask(chat)
    request_accept(request=held, operator=olga)
    ivan = manager(chat, "Ivan", presence=Presence.AWAY)  # takes transfers, not offers
    waiting = ask(chat)
    assert fresh(waiting).offered_to is None
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        request_transfer(request=held, operator=olga, to_operator=ivan, reason="shift")
    assert callbacks  # among them the drain for Olga's chats
    assert requests_drain(chat_ids=None, operator_id=olga.pk) == 1
    # then
    assert fresh(waiting).offered_to == olga
    assert fresh(held).operator == ivan


def test_an_offer_to_a_manager_who_went_away_goes_to_the_next_without_a_pass(chat, automatic):
    olga = manager(chat, "Olga", idle_minutes=30)
    ivan = manager(chat, "Ivan")
    request = ask(chat)
    assert fresh(request).offered_to == olga
    operator_presence_set(operator=olga, presence="away")
    # when (the task the presence change sent runs this)
    assert requests_drain(chat_ids=None, operator_id=olga.pk) == 1
    # then
    stored = fresh(request)
    assert (stored.offered_to, list(stored.rejected_by.all())) == (ivan, [])
    assert stored.events.filter(note="offer to Olga withdrawn: not online").exists()


def test_an_offer_to_a_manager_whose_presence_ran_out_is_withdrawn_by_the_sweep(chat, automatic):
    now = timezone.now()
    olga = manager(chat, "Olga", presence_expires_at=now + timedelta(seconds=5))
    request = ask(chat, now=now)
    assert fresh(request).offered_to == olga
    # when: the presence runs out, nobody else is online
    deadlines_sweep(now=now + timedelta(seconds=6))
    # then
    assert (fresh(request).offered_to, fresh(request).offer_deadline) == (None, None)
    assert Operator.objects.get(pk=olga.pk).presence == Presence.OFFLINE


def test_an_offer_to_an_online_manager_is_left_by_the_drain(chat, automatic):
    olga = manager(chat, "Olga")
    request = ask(chat)
    deadline = fresh(request).offer_deadline
    assert requests_drain(chat_ids=[chat.pk]) == 0
    assert (fresh(request).offered_to, fresh(request).offer_deadline) == (olga, deadline)
