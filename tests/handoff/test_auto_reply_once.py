"""Review of issue 11: auto-replies are sent once, not once per client message."""

from __future__ import annotations

import pytest

from chats.enums import AuthorKind, Messenger
from chats.models import Message
from chats.services import dialog_receive_client_message
from chats.services import dialog_start_or_resume as dialog_start
from distributor.enums import RouteTarget
from distributor.models import RoutingRule
from distributor.services import chat_distribution_for
from handoff.models import HandoffSettings, Request
from tests.chats.factories import ChatFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def test_a_channel_routed_to_managers_outside_hours_tells_the_client_once_not_per_message():
    # given a chat routed to managers, with working hours on and no window at all
    chat = ChatFactory()
    distribution = chat_distribution_for(chat)
    distribution.reply_offline = "Nobody is here now."
    distribution.save()
    RoutingRule.objects.create(
        distribution=distribution, messenger=Messenger.WEB, target=RouteTarget.MANAGERS
    )
    settings, _created = HandoffSettings.objects.get_or_create(chat=chat)
    settings.working_hours_enabled = True
    settings.save()
    OperatorFactory(display_name="Olga", chats=[chat])
    dialog, _created = dialog_start(chat=chat, messenger=Messenger.WEB, external_id="v1")
    # when the client writes three messages
    for text in ("hello", "anyone?", "hello??"):
        dialog_receive_client_message(dialog=dialog, text=text, client_msg_id=f"v1:{text}")
    # then no request opened, and the auto-reply was said once
    assert Request.objects.count() == 0
    replies = list(
        Message.objects.filter(dialog=dialog, author_kind=AuthorKind.SYSTEM).values_list(
            "text", flat=True
        )
    )
    assert replies == ["Nobody is here now."]
