"""ChatDistribution.clean and RoutingRule.clean: the model refuses what Admin refuses,
for any code that validates before saving."""

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from distributor.enums import RouteTarget
from distributor.models import ApiBot, ChatDistribution, RoutingRule
from distributor.services import api_key_create, api_key_revoke, chat_distribution_for
from tests.chats.factories import ChatFactory

pytestmark = pytest.mark.django_db


def test_the_default_settings_are_valid():
    distribution = chat_distribution_for(ChatFactory())

    distribution.full_clean()

    assert distribution.phone_region == "US"


@pytest.mark.parametrize(
    ("empty", "named"),
    [
        ({"reply_received": ""}, "dialog received"),
        ({"reply_offline": "  \n "}, "managers offline"),
        (
            {"reply_all_busy": " ", "reply_outside_hours": ""},
            "all managers busy, outside working hours",
        ),
    ],
)
def test_settings_with_an_empty_auto_reply_are_refused_naming_it(empty, named):
    distribution = chat_distribution_for(ChatFactory())
    for field, value in empty.items():
        setattr(distribution, field, value)

    with pytest.raises(ValidationError) as error:
        distribution.full_clean()

    assert error.value.message_dict[NON_FIELD_ERRORS] == [
        f"All four auto-replies are required; empty: {named}."
    ]
    assert set(empty) <= set(error.value.message_dict)


def test_an_unknown_phone_region_is_refused_and_a_known_one_put_in_capitals():
    distribution = chat_distribution_for(ChatFactory())
    distribution.phone_region = "zz"
    with pytest.raises(ValidationError) as error:
        distribution.full_clean()
    assert "is not a phone region" in error.value.message_dict["phone_region"][0]

    distribution.phone_region = "it"
    distribution.full_clean()
    assert distribution.phone_region == "IT"


def bot_for(*chats):
    key, _token = api_key_create(name="bot", scopes=[], chats=list(chats))
    return ApiBot.objects.create(
        name="bot", api_key=key, webhook_url="https://bot.example.com/", signing_secret="x" * 32
    )


def test_a_managers_rule_with_an_api_bot_is_refused():
    chat = ChatFactory()
    rule = RoutingRule(
        distribution=chat_distribution_for(chat),
        messenger="web",
        target=RouteTarget.MANAGERS,
        api_bot=bot_for(chat),
    )

    with pytest.raises(ValidationError) as error:
        rule.full_clean()

    assert "api_bot" in error.value.message_dict


def test_a_bot_rule_with_a_revoked_bots_key_is_refused():
    chat = ChatFactory()
    bot = bot_for(chat)
    api_key_revoke(key=bot.api_key)
    rule = RoutingRule(
        distribution=chat_distribution_for(chat),
        messenger="web",
        target=RouteTarget.BOT,
        api_bot=ApiBot.objects.get(pk=bot.pk),
    )

    with pytest.raises(ValidationError) as error:
        rule.full_clean()

    assert error.value.message_dict["api_bot"] == ["This API bot is switched off."]


def test_a_bot_rule_with_the_chats_api_bot_or_none_is_valid():
    chat = ChatFactory()
    distribution = chat_distribution_for(chat)

    RoutingRule(
        distribution=distribution, messenger="web", target="bot", api_bot=bot_for(chat)
    ).full_clean()
    RoutingRule(distribution=distribution, messenger="telegram", target="bot").full_clean()

    assert ChatDistribution.objects.count() == 1
