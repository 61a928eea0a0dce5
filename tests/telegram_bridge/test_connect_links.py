"""Operator connect links: created in the admin, redeemed once with `/start <token>`,
refused politely when used, expired, unknown or meant for someone else; and the bot's
admin pages (token checked with getMe and never shown, webhook set with the secret)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from chats.enums import ScriptKind
from chats.models import Dialog
from telegram_bridge.models import ConnectLink, OperatorAccount, TelegramBot
from telegram_bridge.services.clients import TelegramUser
from telegram_bridge.services.operators import (
    ConnectRefused,
    connect_link_create,
    connect_link_redeem,
)
from tests.chats.factories import ChatFactory, ScriptFactory, StepFactory
from tests.distributor.factories import OperatorFactory
from tests.telegram_bridge.telegram_updates import text_update
from tests.threads import run_in_threads

OPERATOR_USER = 601
SOMEONE_ELSE = 602
# a race that loses only sometimes is run often enough to lose on PostgreSQL
RACE_ROUNDS = 10 if connection.vendor == "postgresql" else 3


def redeem_by_telegram(world, user_id: int, token: str, username: str | None = None) -> None:
    world.receive(
        text_update(
            world.next_update_id(), user_id=user_id, text=f"/start {token}", username=username
        )
    )
    world.settle()


def admin_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- redeeming with /start <token> --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_start_with_a_link_connects_the_operator_and_welcomes_them(telegram_world):
    world = telegram_world
    operator = OperatorFactory(display_name="Olga", chats=[world.bot.chat])
    link = connect_link_create(bot=world.bot, operator=operator)

    redeem_by_telegram(world, OPERATOR_USER, link.token, username="olga_t")

    account = OperatorAccount.objects.get()
    assert (account.bot, account.operator, account.telegram_user_id) == (
        world.bot,
        operator,
        OPERATOR_USER,
    )
    assert account.active
    assert account.telegram_username == "olga_t"
    link.refresh_from_db()
    assert link.used_at is not None
    assert link.used_by == account
    [welcome] = world.texts_to(OPERATOR_USER)
    assert welcome.startswith("You are connected as Olga.")
    assert not Dialog.objects.exists()  # an operator connecting is not a client


@pytest.mark.django_db(transaction=True)
def test_a_used_link_is_refused_and_connects_nobody_else(telegram_world):
    world = telegram_world
    operator = OperatorFactory(chats=[world.bot.chat])
    link = connect_link_create(bot=world.bot, operator=operator)
    redeem_by_telegram(world, OPERATOR_USER, link.token)
    link.refresh_from_db()
    used_at, used_by = link.used_at, link.used_by_id

    redeem_by_telegram(world, SOMEONE_ELSE, link.token)

    assert world.texts_to(SOMEONE_ELSE) == ["This connect link has already been used."]
    assert list(OperatorAccount.objects.values_list("telegram_user_id", flat=True)) == [
        OPERATOR_USER
    ]
    link.refresh_from_db()
    assert (link.used_at, link.used_by_id) == (used_at, used_by)
    assert not Dialog.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_expired_link_is_refused_and_creates_nothing(telegram_world):
    world = telegram_world
    operator = OperatorFactory(chats=[world.bot.chat])
    link = connect_link_create(bot=world.bot, operator=operator)
    ConnectLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    redeem_by_telegram(world, OPERATOR_USER, link.token)

    assert world.texts_to(OPERATOR_USER) == ["This connect link has expired. Ask for a new one."]
    assert not OperatorAccount.objects.exists()
    link.refresh_from_db()
    assert link.used_at is None
    assert not Dialog.objects.exists()


def test_redeeming_an_unknown_token_is_refused_and_creates_nothing(db):
    bot = TelegramBot.objects.create(chat=ChatFactory(), token="4444:this-bot")

    with pytest.raises(ConnectRefused, match="This connect link is not valid."):
        connect_link_redeem(bot=bot, token="no-such-token", user=TelegramUser(id=OPERATOR_USER))

    assert not OperatorAccount.objects.exists()


def test_redeeming_a_link_of_another_bot_is_refused_and_leaves_the_link_unused(db):
    bot = TelegramBot.objects.create(chat=ChatFactory(), token="4444:this-bot")
    other_bot = TelegramBot.objects.create(chat=ChatFactory(), token="4545:other-bot")
    link = connect_link_create(bot=other_bot, operator=OperatorFactory())

    with pytest.raises(ConnectRefused, match="This connect link is not valid."):
        connect_link_redeem(bot=bot, token=link.token, user=TelegramUser(id=OPERATOR_USER))

    assert not OperatorAccount.objects.exists()
    link.refresh_from_db()
    assert link.used_at is None


@pytest.mark.django_db(transaction=True)
def test_start_with_an_unknown_token_is_a_client_deep_link_not_an_operator(telegram_world):
    world = telegram_world
    StepFactory(script=ScriptFactory(chat=world.bot.chat, kind=ScriptKind.START), text="Welcome!")

    redeem_by_telegram(world, OPERATOR_USER, "from-the-website")

    assert not OperatorAccount.objects.exists()
    assert "This connect link is not valid." not in world.texts_to(OPERATOR_USER)
    assert world.texts_to(OPERATOR_USER) == ["Welcome!"]  # greeted like any client
    assert Dialog.objects.get().client.external_id == str(OPERATOR_USER)


@pytest.mark.django_db(transaction=True)
def test_an_account_connected_as_one_operator_cannot_redeem_another_operators_link(
    telegram_world,
):
    world = telegram_world
    # given a Telegram account connected as operator A
    operator_a = OperatorFactory(chats=[world.bot.chat])
    operator_b = OperatorFactory(chats=[world.bot.chat])
    redeem_by_telegram(
        world, OPERATOR_USER, connect_link_create(bot=world.bot, operator=operator_a).token
    )
    link_b = connect_link_create(bot=world.bot, operator=operator_b)
    # when it redeems operator B's link
    redeem_by_telegram(world, OPERATOR_USER, link_b.token)
    # then it is refused, stays A, and B's link can still be used by B
    assert world.texts_to(OPERATOR_USER)[-1] == (
        "This Telegram account is already connected as another manager."
    )
    account = OperatorAccount.objects.get()
    assert (account.operator, account.telegram_user_id) == (operator_a, OPERATOR_USER)
    link_b.refresh_from_db()
    assert link_b.used_at is None


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_redemptions_of_one_link_connect_exactly_one_account():
    # runs on SQLite and, in `make test-postgres`, on PostgreSQL's row locks
    bot = TelegramBot.objects.create(chat=ChatFactory(), token="4545:race-bot")
    for round_number in range(RACE_ROUNDS):
        link = connect_link_create(bot=bot, operator=OperatorFactory(chats=[bot.chat]))
        accounts: list[OperatorAccount] = []

        def redeem(index: int, link=link, accounts=accounts, round_number=round_number) -> None:
            fresh_bot = TelegramBot.objects.select_related("chat").get(pk=bot.pk)
            user = TelegramUser(id=1000 * round_number + index, first_name=f"Racer {index}")
            accounts.append(connect_link_redeem(bot=fresh_bot, token=link.token, user=user))

        errors = run_in_threads(2, redeem)

        assert len(accounts) == 1
        assert [str(error) for error in errors] == ["This connect link has already been used."]
        assert [type(error) for error in errors] == [ConnectRefused]
        account = OperatorAccount.objects.get(operator=link.operator)
        assert account == accounts[0]
        link.refresh_from_db()
        assert link.used_by == account
    assert OperatorAccount.objects.count() == RACE_ROUNDS


# --- the admin: connect links ---------------------------------------------------------------


@pytest.fixture
def bot(db) -> TelegramBot:
    return TelegramBot.objects.create(
        chat=ChatFactory(), token="5555:SECRET-bot-token-value", username="shop_bot"
    )


def test_admin_creates_a_link_and_shows_its_telegram_url(admin_client, bot):
    operator = OperatorFactory(chats=[bot.chat])
    before = timezone.now()

    response = admin_client.post(
        "/admin/telegram_bridge/connectlink/add/",
        {"bot": bot.pk, "operator": operator.pk, "hours": 48},
        follow=True,
    )

    assert response.status_code == 200
    link = ConnectLink.objects.get()
    assert (link.bot, link.operator, link.used_at) == (bot, operator, None)
    assert link.url == f"https://t.me/shop_bot?start={link.token}"
    assert timedelta(hours=47) < link.expires_at - before < timedelta(hours=49)
    assert any(link.url in message for message in admin_messages(response))


@pytest.mark.parametrize("hours", ["0", "-5", "twelve", ""])
def test_admin_refuses_a_link_with_bad_hours_and_creates_nothing(admin_client, bot, hours):
    operator = OperatorFactory(chats=[bot.chat])

    response = admin_client.post(
        "/admin/telegram_bridge/connectlink/add/",
        {"bot": bot.pk, "operator": operator.pk, "hours": hours},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["hours"]
    assert not ConnectLink.objects.exists()


# --- the admin: bots ----------------------------------------------------------------------


def test_bot_admin_list_and_change_pages_never_show_the_token(admin_client, bot):
    pages = [
        admin_client.get("/admin/telegram_bridge/telegrambot/"),
        admin_client.get(f"/admin/telegram_bridge/telegrambot/{bot.pk}/change/"),
    ]

    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert "shop_bot" in html  # the page does show the bot
        assert "SECRET-bot-token-value" not in html
        assert bot.token not in html


def test_bot_admin_refuses_a_token_telegram_does_not_know(admin_client, fake_api):
    chat = ChatFactory()

    response = admin_client.post(
        "/admin/telegram_bridge/telegrambot/add/",
        {"chat": chat.pk, "token": "999999:unknown-token", "notice_group_id": ""},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["token"] == [
        "Telegram does not accept this token."
    ]
    assert not TelegramBot.objects.exists()
    assert fake_api.calls("getMe")  # it was really asked


def test_bot_admin_refuses_something_that_is_not_a_token_without_asking(admin_client, fake_api):
    chat = ChatFactory()

    response = admin_client.post(
        "/admin/telegram_bridge/telegrambot/add/",
        {"chat": chat.pk, "token": "just some words", "notice_group_id": ""},
    )

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["token"]
    assert error.startswith("This does not look like a bot token")
    assert not TelegramBot.objects.exists()
    assert fake_api.calls() == []


def test_bot_admin_saves_a_known_token_with_the_name_telegram_gives(admin_client, fake_api):
    chat = ChatFactory()
    fake_api.add_bot("777001:known-token", bot_id=777001, username="known_shop_bot")

    response = admin_client.post(
        "/admin/telegram_bridge/telegrambot/add/",
        {"chat": chat.pk, "token": " 777001:known-token ", "notice_group_id": "-1001234"},
    )

    assert response.status_code == 302
    bot = TelegramBot.objects.get()
    assert (bot.chat, bot.token, bot.username, bot.telegram_id, bot.notice_group_id) == (
        chat,
        "777001:known-token",
        "known_shop_bot",
        777001,
        -1001234,
    )
    assert fake_api.succeeded("getMe")


def test_set_webhook_action_points_telegram_at_us_with_the_secret(
    admin_client, bot, fake_api, settings
):
    settings.BATON_PUBLIC_URL = "https://baton.example"
    fake_api.add_bot(bot.token, bot_id=5555, username="shop_bot")

    response = admin_client.post(
        "/admin/telegram_bridge/telegrambot/",
        {"action": "set_webhook", "_selected_action": [bot.pk]},
        follow=True,
    )

    webhook = fake_api.webhook(bot.token)
    url = f"https://baton.example/telegram/webhook/{bot.webhook_key}/"
    assert webhook["url"] == url
    assert webhook["secret_token"] == bot.webhook_secret
    assert "callback_query" in webhook["allowed_updates"]
    assert "message" in webhook["allowed_updates"]
    bot.refresh_from_db()
    assert bot.webhook_set_at is not None
    assert bot.webhook_error == ""
    assert any(url in message for message in admin_messages(response))


def test_set_webhook_action_shows_telegrams_refusal_and_records_it(
    admin_client, bot, fake_api, settings
):
    settings.BATON_PUBLIC_URL = "https://baton.example"
    fake_api.add_bot(bot.token, bot_id=5555, username="shop_bot")
    fake_api.fail_bad_request(
        "setWebhook", "Bad Request: bad webhook: Failed to resolve host: Name or service not known"
    )

    response = admin_client.post(
        "/admin/telegram_bridge/telegrambot/",
        {"action": "set_webhook", "_selected_action": [bot.pk]},
        follow=True,
    )

    [message] = admin_messages(response)
    assert "Telegram refused the webhook" in message
    assert "resolve host" in message
    bot.refresh_from_db()
    assert "resolve host" in bot.webhook_error
    assert bot.webhook_set_at is None
    assert fake_api.webhook(bot.token) == {}


@pytest.mark.django_db(transaction=True)
def test_one_account_redeeming_two_operators_links_at_once_becomes_one_operator():
    bot = TelegramBot.objects.create(chat=ChatFactory(), token="4646:race-bot")
    for round_number in range(RACE_ROUNDS):
        links = [
            connect_link_create(bot=bot, operator=OperatorFactory(chats=[bot.chat])) for _ in "ab"
        ]
        user = TelegramUser(id=OPERATOR_USER + round_number, first_name="Olga")
        accounts: list[OperatorAccount] = []

        def redeem(index: int, links=links, user=user, accounts=accounts) -> None:
            fresh_bot = TelegramBot.objects.select_related("chat").get(pk=bot.pk)
            accounts.append(connect_link_redeem(bot=fresh_bot, token=links[index].token, user=user))

        errors = run_in_threads(2, redeem)

        assert len(accounts) == 1
        assert [str(error) for error in errors] == [
            "This Telegram account is already connected as another manager."
        ]
        assert OperatorAccount.objects.get(telegram_user_id=user.id) == accounts[0]
