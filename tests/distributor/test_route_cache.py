"""Review of issue 11: the per-process route cache is keyed on the chat's
scripts_version, which only RoutingRule.save()/delete() bump. Deleting the chat's
distribution settings (Admin's delete, a cascade) removes its rules with SQL and
bumps nothing: every process keeps routing the channel to managers."""

from __future__ import annotations

import pytest

from chats.enums import Messenger
from chats.services import dialog_receive_client_message
from chats.services import dialog_start_or_resume as dialog_start
from distributor.enums import RouteTarget
from distributor.models import ChatDistribution, RoutingRule
from distributor.services import chat_distribution_for
from handoff.models import Request
from tests.chats.factories import ChatFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def test_deleting_a_chats_distribution_settings_stops_routing_its_channels_to_managers():
    # given a chat's web channel routed to managers, and a message that cached the route
    chat = ChatFactory()
    OperatorFactory(display_name="Olga", chats=[chat])
    RoutingRule.objects.create(
        distribution=chat_distribution_for(chat),
        messenger=Messenger.WEB,
        target=RouteTarget.MANAGERS,
    )
    first, _created = dialog_start(chat=chat, messenger=Messenger.WEB, external_id="v1")
    dialog_receive_client_message(dialog=first, text="hi", client_msg_id="v1:1")
    assert Request.objects.filter(dialog=first).count() == 1
    # when an admin deletes the chat's distribution settings (its rules go with them)
    ChatDistribution.objects.get(chat=chat).delete()
    assert not RoutingRule.objects.exists()
    # then a new visitor's message is the bot's again: no request opens
    second, _created = dialog_start(chat=chat, messenger=Messenger.WEB, external_id="v2")
    dialog_receive_client_message(dialog=second, text="hi", client_msg_id="v2:1")
    assert Request.objects.filter(dialog=second).count() == 0


def test_control_the_same_with_the_process_cache_emptied_opens_no_request():
    # the control: it is the cached route (not a rule left behind) that opens it
    from distributor import selectors

    chat = ChatFactory()
    OperatorFactory(display_name="Olga", chats=[chat])
    RoutingRule.objects.create(
        distribution=chat_distribution_for(chat),
        messenger=Messenger.WEB,
        target=RouteTarget.MANAGERS,
    )
    first, _created = dialog_start(chat=chat, messenger=Messenger.WEB, external_id="v1")
    dialog_receive_client_message(dialog=first, text="hi", client_msg_id="v1:1")
    ChatDistribution.objects.get(chat=chat).delete()
    selectors._routes.clear()
    second, _created = dialog_start(chat=chat, messenger=Messenger.WEB, external_id="v2")
    dialog_receive_client_message(dialog=second, text="hi", client_msg_id="v2:1")
    assert Request.objects.filter(dialog=second).count() == 0
