"""Distribution settings in Admin: one per chat, the four auto-replies all required
(the refusal names the empty ones), a real phone region, routing rules per channel
checked against the chat's managers and API bots; reached from the chat's page."""

import secrets

import pytest

from chats.enums import ChatLanguage, Messenger
from distributor.enums import DistributionMode, RouteTarget
from distributor.models import ApiBot, ChatDistribution, OperatorChannel, RoutingRule
from distributor.services import api_key_create, auto_reply_defaults, chat_distribution_for
from tests.chats.factories import ChatFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db

REPLIES = {
    "reply_received": "Got it, a manager will answer.",
    "reply_all_busy": "Everyone is busy, please wait.",
    "reply_offline": "We are offline, leave a message.",
    "reply_outside_hours": "We are closed; open {hours}.",
}


def page(distribution):
    return f"/admin/distributor/chatdistribution/{distribution.pk}/change/"


def settings_form(rules=(), initial_rules=0, **changes):
    data = {
        "mode": DistributionMode.AUTOMATIC,
        "offer_timeout_seconds": "30",
        **REPLIES,
        "bind_customers": "on",
        "create_customers": "on",
        "phone_region": "ru",
        "routing_rules-TOTAL_FORMS": str(len(rules)),
        "routing_rules-INITIAL_FORMS": str(initial_rules),
        "routing_rules-MIN_NUM_FORMS": "0",
        "routing_rules-MAX_NUM_FORMS": "1000",
    }
    for index, rule in enumerate(rules):
        for key, value in rule.items():
            data[f"routing_rules-{index}-{key}"] = value
    data.update(changes)
    return data


def api_bot_for(*chats, name="Shop bot"):
    key, _token = api_key_create(name=name, scopes=["dialogs:write"], chats=list(chats))
    return ApiBot.objects.create(
        name=name,
        api_key=key,
        webhook_url="https://bot.example.com/hook",
        signing_secret=secrets.token_hex(16),
    )


def test_the_settings_are_saved_with_the_region_in_capitals(admin_client):
    distribution = chat_distribution_for(ChatFactory())

    response = admin_client.post(page(distribution), settings_form())

    assert response.status_code == 302
    distribution.refresh_from_db()
    assert distribution.mode == DistributionMode.AUTOMATIC
    assert distribution.offer_timeout_seconds == 30
    assert distribution.phone_region == "RU"
    assert {field: getattr(distribution, field) for field in REPLIES} == REPLIES


def test_an_empty_auto_reply_is_refused_with_a_message_naming_it(admin_client):
    distribution = chat_distribution_for(ChatFactory())
    before = distribution.revision

    response = admin_client.post(page(distribution), settings_form(reply_all_busy=""))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.non_field_errors() == [
        "All four auto-replies are required; empty: all managers busy."
    ]
    assert form.errors["reply_all_busy"] == ["This auto-reply is required."]
    assert set(form.errors) == {"__all__", "reply_all_busy"}
    assert "All four auto-replies are required; empty: all managers busy." in (
        response.content.decode()
    )
    distribution.refresh_from_db()
    assert distribution.revision == before
    assert distribution.mode == DistributionMode.BROADCAST


def test_auto_replies_of_only_spaces_are_empty_and_every_empty_one_is_named(admin_client):
    distribution = chat_distribution_for(ChatFactory())

    response = admin_client.post(
        page(distribution), settings_form(reply_received="   ", reply_outside_hours="\n\t ")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "All four auto-replies are required; empty: dialog received, outside working hours."
    ]
    distribution.refresh_from_db()
    assert distribution.reply_received == auto_reply_defaults("en")["reply_received"]


@pytest.mark.parametrize("region", ["ZZ", "R1", ""])
def test_an_unknown_phone_region_is_refused(admin_client, region):
    distribution = chat_distribution_for(ChatFactory())

    response = admin_client.post(page(distribution), settings_form(phone_region=region))

    assert response.status_code == 200
    assert "phone_region" in response.context["adminform"].form.errors
    distribution.refresh_from_db()
    assert distribution.phone_region == "US"


def test_a_rule_to_chosen_managers_is_saved(admin_client):
    chat = ChatFactory()
    olga, ivan = OperatorFactory(chats=[chat]), OperatorFactory(chats=[chat])
    distribution = chat_distribution_for(chat)
    rule = {
        "messenger": Messenger.WEB,
        "target": RouteTarget.MANAGERS,
        "managers": [str(olga.pk), str(ivan.pk)],
    }

    response = admin_client.post(page(distribution), settings_form(rules=[rule]))

    assert response.status_code == 302
    saved = RoutingRule.objects.get(distribution=distribution)
    assert (saved.messenger, saved.target, saved.api_bot) == ("web", "managers", None)
    assert set(saved.managers.all()) == {olga, ivan}


def test_a_manager_who_does_not_serve_the_chat_is_refused_by_name(admin_client):
    chat = ChatFactory()
    olga = OperatorFactory(chats=[chat])
    stranger = OperatorFactory(display_name="Stranger", chats=[ChatFactory()])
    distribution = chat_distribution_for(chat)
    rule = {
        "messenger": Messenger.WEB,
        "target": RouteTarget.MANAGERS,
        "managers": [str(olga.pk), str(stranger.pk)],
    }

    response = admin_client.post(page(distribution), settings_form(rules=[rule]))

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert errors["managers"] == ["Not a manager of this chat: Stranger."]
    assert not RoutingRule.objects.exists()


def test_a_manager_who_serves_other_channels_of_the_chat_is_refused(admin_client):
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    OperatorChannel.objects.create(operator=olga, chat=chat, messenger=Messenger.WEB)
    distribution = chat_distribution_for(chat)
    rule = {
        "messenger": Messenger.TELEGRAM,
        "target": RouteTarget.MANAGERS,
        "managers": [str(olga.pk)],
    }

    response = admin_client.post(page(distribution), settings_form(rules=[rule]))

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert errors["managers"] == ["Does not serve this channel in this chat: Olga."]
    assert not RoutingRule.objects.exists()


def test_a_managers_route_naming_an_api_bot_is_refused(admin_client):
    chat = ChatFactory()
    bot = api_bot_for(chat)
    distribution = chat_distribution_for(chat)
    rule = {"messenger": Messenger.WEB, "target": RouteTarget.MANAGERS, "api_bot": str(bot.pk)}

    response = admin_client.post(page(distribution), settings_form(rules=[rule]))

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert errors["api_bot"] == ["Routing to managers names no bot: clear the API bot."]
    assert not RoutingRule.objects.exists()


def test_a_bot_route_to_an_api_bot_of_the_chat_is_saved(admin_client):
    chat = ChatFactory()
    bot = api_bot_for(chat)
    distribution = chat_distribution_for(chat)
    rule = {"messenger": Messenger.TELEGRAM, "target": RouteTarget.BOT, "api_bot": str(bot.pk)}

    response = admin_client.post(page(distribution), settings_form(rules=[rule]))

    assert response.status_code == 302
    assert RoutingRule.objects.get().api_bot == bot


def test_an_api_bot_whose_key_is_not_given_the_chat_is_refused(admin_client):
    chat = ChatFactory()
    bot = api_bot_for(ChatFactory())
    distribution = chat_distribution_for(chat)
    rule = {"messenger": Messenger.WEB, "target": RouteTarget.BOT, "api_bot": str(bot.pk)}

    response = admin_client.post(page(distribution), settings_form(rules=[rule]))

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert errors["api_bot"] == ["This API bot's key is not given this chat; add the chat to it."]
    assert not RoutingRule.objects.exists()


def test_a_switched_off_api_bot_is_refused(admin_client):
    chat = ChatFactory()
    bot = api_bot_for(chat)
    ApiBot.objects.filter(pk=bot.pk).update(is_active=False)
    distribution = chat_distribution_for(chat)
    rule = {"messenger": Messenger.WEB, "target": RouteTarget.BOT, "api_bot": str(bot.pk)}

    response = admin_client.post(page(distribution), settings_form(rules=[rule]))

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert errors["api_bot"] == ["This API bot is switched off."]
    assert not RoutingRule.objects.exists()


def test_two_rules_for_one_channel_are_refused(admin_client):
    distribution = chat_distribution_for(ChatFactory())
    rules = [
        {"messenger": Messenger.WEB, "target": RouteTarget.BOT},
        {"messenger": Messenger.WEB, "target": RouteTarget.MANAGERS},
    ]

    response = admin_client.post(page(distribution), settings_form(rules=rules))

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert not RoutingRule.objects.exists()


def test_the_list_shows_each_chats_mode_and_routing(admin_client):
    chat = ChatFactory(name="Shop")
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    distribution = chat_distribution_for(chat)
    rule = RoutingRule.objects.create(
        distribution=distribution, messenger=Messenger.WEB, target=RouteTarget.MANAGERS
    )
    rule.managers.add(olga)
    RoutingRule.objects.create(
        distribution=distribution, messenger=Messenger.TELEGRAM, target=RouteTarget.BOT
    )

    content = admin_client.get("/admin/distributor/chatdistribution/").content.decode()

    assert "Shop" in content
    assert "Telegram → bot: the chat&#x27;s scripts; Web → managers: Olga" in content


def test_the_add_page_offers_the_auto_replies_in_the_chats_language(admin_client):
    chat = ChatFactory(language=ChatLanguage.RUSSIAN)

    response = admin_client.get(f"/admin/distributor/chatdistribution/add/?chat={chat.pk}")

    initial = response.context["adminform"].form.initial
    assert {field: initial[field] for field in REPLIES} == auto_reply_defaults("ru")


def test_the_add_page_offers_only_chats_without_settings(admin_client):
    taken, free = ChatFactory(), ChatFactory()
    chat_distribution_for(taken)

    response = admin_client.get("/admin/distributor/chatdistribution/add/")

    assert list(response.context["adminform"].form.fields["chat"].queryset) == [free]


def test_settings_added_for_a_chat_are_saved(admin_client):
    chat = ChatFactory()

    response = admin_client.post(
        "/admin/distributor/chatdistribution/add/", settings_form(chat=str(chat.pk))
    )

    assert response.status_code == 302
    assert ChatDistribution.objects.get(chat=chat).phone_region == "RU"


def test_resetting_the_auto_replies_puts_the_chats_language_defaults_back(admin_client):
    chat = ChatFactory(language=ChatLanguage.ITALIAN)
    distribution = chat_distribution_for(chat)
    ChatDistribution.objects.filter(pk=distribution.pk).update(**REPLIES, phone_region="IT")

    response = admin_client.post(
        "/admin/distributor/chatdistribution/",
        {"action": "reset_auto_replies", "_selected_action": [str(distribution.pk)]},
    )

    assert response.status_code == 302
    distribution.refresh_from_db()
    assert {field: getattr(distribution, field) for field in REPLIES} == auto_reply_defaults("it")
    assert distribution.phone_region == "IT"


def test_the_chats_page_links_to_its_settings_which_are_made_on_the_way(admin_client):
    chat = ChatFactory()
    link = f"/admin/distributor/chatdistribution/of-chat/{chat.pk}/"

    chat_page = admin_client.get(f"/admin/chats/chat/{chat.pk}/change/").content.decode()
    response = admin_client.get(link)

    assert f'href="{link}"' in chat_page
    distribution = ChatDistribution.objects.get(chat=chat)
    assert response.status_code == 302
    assert response.url == page(distribution)


def test_the_settings_link_of_a_chat_that_does_not_exist_is_not_found(admin_client):
    response = admin_client.get("/admin/distributor/chatdistribution/of-chat/999999/")

    assert response.status_code == 404
    assert not ChatDistribution.objects.exists()


def test_the_settings_link_needs_an_admin(client):
    chat = ChatFactory()

    response = client.get(f"/admin/distributor/chatdistribution/of-chat/{chat.pk}/")

    assert response.status_code == 302
    assert "/login/" in response.url
    assert not ChatDistribution.objects.exists()
