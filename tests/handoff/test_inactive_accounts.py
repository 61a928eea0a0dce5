"""Review of issue 11: an operator whose user account is deactivated is offered no
request and receives no transfer (the console's picker already leaves them out:
handoff.selectors.transfer_targets filters user__is_active; the services do not)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from distributor.enums import DistributionMode, Presence
from distributor.services import chat_distribution_for
from handoff.models import Request
from handoff.services import HandoffError, request_accept, request_open, request_transfer
from tests.chats.factories import ChatFactory, ClientFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def deactivate(operator):
    get_user_model().objects.filter(pk=operator.user_id).update(is_active=False)


def test_a_conversation_is_not_transferred_to_a_deactivated_account():
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat], presence=Presence.ONLINE)
    gone = OperatorFactory(display_name="Gone", chats=[chat], presence=Presence.ONLINE)
    deactivate(gone)
    request = request_open(dialog=DialogFactory(client=ClientFactory(chat=chat)), reason="api")
    request_accept(request=request, operator=olga)
    with pytest.raises(HandoffError):
        request_transfer(request=request, operator=olga, to_operator=gone, reason="lunch")
    assert Request.objects.get(pk=request.pk).operator_id == olga.pk


def test_an_automatic_offer_skips_a_deactivated_account_still_marked_online():
    # given a Telegram-style presence (no expiry) left online when the account was closed
    chat = ChatFactory()
    settings = chat_distribution_for(chat)
    settings.mode = DistributionMode.AUTOMATIC
    settings.save()
    gone = OperatorFactory(display_name="Gone", chats=[chat], presence=Presence.ONLINE)
    deactivate(gone)
    # when a request opens
    request = request_open(dialog=DialogFactory(client=ClientFactory(chat=chat)), reason="api")
    # then it is not offered to (and locked for) the closed account
    assert Request.objects.get(pk=request.pk).offered_to_id is None
