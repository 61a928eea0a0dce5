"""The distribution writes for code (demo data, the API): validated as Admin is,
refusing bad input with nothing changed."""

import pytest
from django.core.exceptions import ValidationError

from chats.enums import Messenger
from distributor.enums import DistributionMode, RouteTarget
from distributor.models import ChatDistribution, OperatorChannel, RoutingRule
from distributor.services import chat_distribution_for
from distributor.services.auto_replies import chat_distribution_auto_replies_reset
from distributor.services.routing import (
    chat_distribution_update,
    operator_channels_set,
    routing_rule_set,
)
from tests.chats.factories import ChatFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def test_settings_are_changed_and_checked():
    chat = ChatFactory()

    distribution = chat_distribution_update(
        chat=chat, mode=DistributionMode.AUTOMATIC, phone_region="ru"
    )

    assert (distribution.mode, distribution.phone_region) == ("automatic", "RU")
    assert ChatDistribution.objects.get(chat=chat).mode == "automatic"


@pytest.mark.parametrize(
    "changes",
    [{"reply_offline": "  "}, {"phone_region": "ZZ"}, {"offer_timeout_seconds": 1}, {"x": 1}],
)
def test_bad_settings_are_refused_and_nothing_changes(changes):
    chat = ChatFactory()
    before = chat_distribution_for(chat)

    with pytest.raises(ValidationError):
        chat_distribution_update(chat=chat, mode=DistributionMode.AUTOMATIC, **changes)

    after = ChatDistribution.objects.get(chat=chat)
    assert (after.mode, after.revision) == ("broadcast", before.revision)


def test_a_rule_is_set_and_replaced():
    chat = ChatFactory()
    olga = OperatorFactory(chats=[chat])
    routing_rule_set(chat=chat, messenger=Messenger.WEB, target=RouteTarget.BOT)

    rule = routing_rule_set(
        chat=chat, messenger=Messenger.WEB, target=RouteTarget.MANAGERS, managers=[olga]
    )

    assert list(RoutingRule.objects.values_list("pk", "target")) == [(rule.pk, "managers")]
    assert list(rule.managers.all()) == [olga]


def test_a_rule_naming_a_manager_of_another_chat_is_refused():
    chat = ChatFactory()
    stranger = OperatorFactory(display_name="Stranger")

    with pytest.raises(ValidationError, match="Not a manager of this chat: Stranger"):
        routing_rule_set(
            chat=chat, messenger=Messenger.WEB, target=RouteTarget.MANAGERS, managers=[stranger]
        )

    assert not RoutingRule.objects.exists()


def test_an_unknown_channel_or_target_is_refused():
    chat = ChatFactory()

    with pytest.raises(ValidationError):
        routing_rule_set(chat=chat, messenger="pigeon", target=RouteTarget.BOT)
    with pytest.raises(ValidationError):
        routing_rule_set(chat=chat, messenger=Messenger.WEB, target="nobody")

    assert not RoutingRule.objects.exists()


def test_channels_are_set_and_replaced():
    chat = ChatFactory()
    olga = OperatorFactory(chats=[chat])
    operator_channels_set(operator=olga, chat=chat, messengers=["web", "telegram"])

    operator_channels_set(operator=olga, chat=chat, messengers=["telegram"])

    assert list(OperatorChannel.objects.values_list("messenger", flat=True)) == ["telegram"]


def test_channels_in_a_chat_not_served_or_unknown_are_refused():
    chat, other = ChatFactory(), ChatFactory()
    olga = OperatorFactory(chats=[chat])

    with pytest.raises(ValidationError, match="not one of the chats"):
        operator_channels_set(operator=olga, chat=other, messengers=["web"])
    with pytest.raises(ValidationError):
        operator_channels_set(operator=olga, chat=chat, messengers=["pigeon"])

    assert not OperatorChannel.objects.exists()


def test_resetting_the_auto_replies_follows_the_chats_current_language():
    chat = ChatFactory(language="en")
    distribution = chat_distribution_update(chat=chat, reply_received="Custom text")

    reset = chat_distribution_auto_replies_reset(distribution=distribution)

    assert reset.reply_received != "Custom text"
    assert ChatDistribution.objects.get(chat=chat).reply_received == reset.reply_received
