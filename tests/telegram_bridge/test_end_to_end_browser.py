"""The Telegram bridge end to end, with a real browser on the other side.

Everything but Telegram itself is real: Daphne in a child process serves the widget,
the operator console and the webhook; Telegram's updates are POSTed to the webhook
with the bot's secret header; a Celery worker in this process (through the suite's
Redis) processes them and sends what the bot says to a fake Bot API server.

1. A visitor in the browser widget asks for a human; an operator accepts in Telegram,
   they talk, the operator sends /done and the visitor rates in the widget.
2. A Telegram user asks for a human; an operator in the browser console accepts, they
   talk, the operator closes, and the Telegram user rates with the inline keyboard.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.request
from dataclasses import dataclass, field

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from playwright.sync_api import expect

from chats.enums import AuthorKind, Messenger
from chats.models import Chat, Message
from config.celery import TELEGRAM_SEND_QUEUE
from config.celery import app as celery_app
from handoff.enums import RequestStatus
from handoff.models import Feedback, HandoffSettings, Request
from telegram_bridge.models import (
    OperatorAccount,
    OperatorAlert,
    OutboundMessage,
    SendStatus,
    TelegramBot,
    TelegramUpdate,
)
from telegram_bridge.services.operators import connect_link_create
from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures
from tests.distributor.factories import OperatorFactory
from tests.servers import DaphneServer, wait_until
from tests.telegram_bridge.fake_bot_api import Call, FakeBotApi
from tests.telegram_bridge.telegram_updates import callback_update, text_update

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GREETING = re.compile(r"^Hi! I am the demo shop's assistant")
OPERATOR_USER = 601
CLIENT_USER = 501
BOT_TOKEN = "7100:end-to-end-token"
BOT_ID = 7100
OPERATOR_NAME = "Olga"  # the demo operator's display name, and the Telegram operator's
ENDED = "The conversation with the operator has ended."
# generous ceilings for a loaded two-core machine: the wait ends as soon as the call is made
TELEGRAM_WAIT = 30.0
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - Telegram's header name


# --- the fake Telegram side ---------------------------------------------------------


@dataclass
class Telegram:
    """What Telegram does for the bot: posts updates to the webhook, receives the
    bot's calls (recorded by the fake Bot API)."""

    api: FakeBotApi
    bot: TelegramBot
    site: DaphneServer
    update_ids: itertools.count = field(default_factory=lambda: itertools.count(5000))

    def post(self, payload: dict) -> dict:
        request = urllib.request.Request(  # noqa: S310 - the local Daphne
            f"{self.site.http_url}/telegram/webhook/{self.bot.webhook_key}/",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", SECRET_HEADER: self.bot.webhook_secret},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            assert response.status == 200
            answer = json.loads(response.read())
        assert answer == {"ok": True, "duplicate": False}
        return answer

    def write(self, user_id: int, text: str, first_name: str) -> None:
        self.post(
            text_update(next(self.update_ids), user_id=user_id, text=text, first_name=first_name)
        )

    def press(self, user_id: int, data: str, message_id: int, first_name: str) -> None:
        self.post(
            callback_update(
                next(self.update_ids),
                user_id=user_id,
                data=data,
                message_id=message_id,
                first_name=first_name,
                bot_id=BOT_ID,
                bot_username=self.bot.username,
            )
        )

    def wait_for_message(self, chat_id: int, count: int) -> Call:
        """The `count`-th message the bot sent to a chat (waits for it)."""
        return self.api.wait_for("sendMessage", count, TELEGRAM_WAIT, chat_id=chat_id)[count - 1]

    def assert_all_handled(self) -> None:
        """Every update was processed without an error, every outbound row was sent and
        Telegram refused no call."""
        wait_until(
            lambda: (
                not TelegramUpdate.objects.filter(bot=self.bot, processed_at__isnull=True).exists()
            ),
            seconds=TELEGRAM_WAIT,
        )
        errors = TelegramUpdate.objects.filter(bot=self.bot).exclude(error="")
        assert list(errors.values_list("update_id", "error")) == []
        wait_until(
            lambda: (
                not OutboundMessage.objects.filter(bot=self.bot, status=SendStatus.PENDING).exists()
            ),
            seconds=TELEGRAM_WAIT,
        )
        unsent = OutboundMessage.objects.filter(bot=self.bot).exclude(status=SendStatus.SENT)
        assert list(unsent.values_list("method", "status", "error")) == []
        assert [call.describe() for call in self.api.calls() if call.failed] == []


def callback_data(call: Call) -> list[str]:
    return [
        button["callback_data"]
        for row in call.params["reply_markup"]["inline_keyboard"]
        for button in row
    ]


def telegram_message_id(row_filter: dict) -> int:
    """The Telegram message id the outbox recorded for a sent row (written just after
    the send the fake saw, so waited for)."""
    return wait_until(
        lambda: (
            OutboundMessage.objects.filter(telegram_message_id__isnull=False, **row_filter)
            .values_list("telegram_message_id", flat=True)
            .last()
        ),
        seconds=TELEGRAM_WAIT,
    )


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture
def demo_chat() -> Chat:
    call_command("load_demo")
    chat = Chat.objects.get(public_key="demo")
    HandoffSettings.objects.get_or_create(chat=chat)
    return chat


@pytest.fixture
def telegram_site(fake_api, django_db_blocker, redis_url):
    """Daphne (widget, console, webhook) pointed at the fake Bot API and the test database."""
    from django.db import connection

    with django_db_blocker.unblock():
        database_name = str(connection.settings_dict["NAME"])
    server = DaphneServer(
        redis_url=redis_url,
        database_name=database_name,
        extra_env={
            "TELEGRAM_API_URL": fake_api.base_url,
            "TELEGRAM_FILE_URL": fake_api.base_file_url,
            "TELEGRAM_PRIVATE_CHAT_INTERVAL": "0",
            # the browser fixture allows sync ORM calls on this process's Playwright
            # thread; Daphne must keep Django's check
            "DJANGO_ALLOW_ASYNC_UNSAFE": "",
        },
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def celery_worker(fake_api, settings):
    """A real Celery worker in this process, consuming from the suite's Redis: it runs
    telegram_bridge.process_updates and telegram_bridge.deliver_outbox, scheduled by
    Daphne (the webhook, the widget, the console) and by itself."""
    celery_app.conf.broker_url = settings.CELERY_BROKER_URL
    celery_app.conf.result_backend = settings.CELERY_RESULT_BACKEND
    with start_worker(
        celery_app,
        perform_ping_check=False,
        pool="threads",
        concurrency=2,
        queues=["celery", TELEGRAM_SEND_QUEUE],
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as worker:
        yield worker


@pytest.fixture
def telegram(fake_api, demo_chat, telegram_site, celery_worker) -> Telegram:
    bot = TelegramBot.objects.create(
        chat=demo_chat, token=BOT_TOKEN, username="baton_e2e_bot", telegram_id=BOT_ID
    )
    fake_api.add_bot(BOT_TOKEN, bot_id=BOT_ID, username=bot.username)
    return Telegram(api=fake_api, bot=bot, site=telegram_site)


def operator_logs_in(page, server) -> None:
    """The demo operator in the console, its live socket open. The console shows its
    error frames as inline notices (`#notices .notice`), never as alert()."""
    page.goto(f"{server.http_url}/console/login/")
    page.locator("input[name=username]").fill("operator")
    page.locator("input[name=password]").fill("baton-operator")
    page.locator("form.login-form button[type=submit]").click()
    expect(page).to_have_url(f"{server.http_url}/console/")
    expect(page.locator("#connection")).to_have_text("")


# --- tests --------------------------------------------------------------------------


def test_widget_visitor_talks_to_a_telegram_operator_and_rates(telegram, demo_chat, page):
    # given: Olga serves the demo chat and connects her Telegram account with a link
    operator = OperatorFactory(display_name=OPERATOR_NAME, chats=[demo_chat])
    link = connect_link_create(bot=telegram.bot, operator=operator)
    telegram.write(OPERATOR_USER, f"/start {link.token}", first_name=OPERATOR_NAME)
    connected = telegram.wait_for_message(OPERATOR_USER, 1)
    assert connected.params["text"].startswith(f"You are connected as {OPERATOR_NAME}.")
    account = OperatorAccount.objects.get(bot=telegram.bot)
    assert (account.operator_id, account.telegram_user_id) == (operator.pk, OPERATOR_USER)

    # and: a visitor on the demo page with the chat open
    page.goto(f"{telegram.site.http_url}/demo/")
    page.locator("#baton-launcher").click()
    widget = page.frame_locator("#baton-frame")
    messages = widget.locator("#baton-messages")
    expect(messages.locator(".from-bot .text")).to_have_text([GREETING])

    # when: the visitor asks for a human
    widget.locator("#baton-headset").click()

    # then: Olga gets an alert in Telegram with Accept and Reject
    alert = telegram.wait_for_message(OPERATOR_USER, 2)
    request = Request.objects.get(chat=demo_chat)
    assert alert.params["text"].startswith("New request in “Demo shop assistant”")
    assert callback_data(alert) == [f"a:{request.pk}", f"x:{request.pk}"]
    alert_message_id = telegram_message_id({"alert__request": request, "method": "sendMessage"})

    # when: she taps Accept
    telegram.press(OPERATOR_USER, f"a:{request.pk}", alert_message_id, first_name=OPERATOR_NAME)

    # then: the visitor is connected to her, and her alert says she accepted
    expect(messages.get_by_text(f"Connected to {OPERATOR_NAME}", exact=True)).to_be_visible()
    telegram.api.wait_for("answerCallbackQuery", 1, TELEGRAM_WAIT)
    accepted = telegram.api.wait_for(
        "editMessageText", 1, TELEGRAM_WAIT, chat_id=OPERATOR_USER, message_id=alert_message_id
    )[0]
    assert accepted.params["text"].endswith("✅ You accepted.")
    talking = telegram.wait_for_message(OPERATOR_USER, 3)
    assert talking.params["text"].startswith("You are talking to ")
    request.refresh_from_db()
    assert (request.status, request.operator_id) == (RequestStatus.ACCEPTED, operator.pk)

    # when: Olga writes in Telegram
    telegram.write(OPERATOR_USER, "How can I help?", first_name=OPERATOR_NAME)

    # then: the visitor reads it from Olga
    from_operator = messages.locator(".from-operator")
    expect(from_operator.locator(".author")).to_have_text([OPERATOR_NAME])
    expect(from_operator.locator(".text")).to_have_text(["How can I help?"])

    # when: the visitor answers in the widget
    widget.locator("#baton-input").fill("My parcel is late")
    widget.locator("#baton-input").press("Enter")

    # then: Olga gets it in Telegram, with who wrote it
    relayed = telegram.wait_for_message(OPERATOR_USER, 4)
    assert relayed.params["text"].startswith("web ")
    assert relayed.params["text"].endswith(": My parcel is late")

    # when: Olga sends /done
    telegram.write(OPERATOR_USER, "/done", first_name=OPERATOR_NAME)

    # then: the visitor is told and asked for a rating; Olga is told it is closed
    expect(messages.get_by_text(ENDED, exact=True)).to_be_visible()
    rating = messages.get_by_role("radio")
    expect(rating).to_have_count(5)  # stars on the 5-point scale (issue 13)
    closed = telegram.wait_for_message(OPERATOR_USER, 5)
    assert closed.params["text"].startswith("The conversation with web ")
    assert " is closed (" in closed.params["text"]

    # when: the visitor rates 5
    messages.get_by_role("radio", name="5 stars").click()

    # then: the feedback is stored against Olga, and the conversation is as it happened
    expect(messages.locator(".rating")).to_have_count(0)
    feedback = wait_until(lambda: Feedback.objects.filter(score=5).first(), seconds=TELEGRAM_WAIT)
    assert feedback.operator_name == OPERATOR_NAME
    assert Feedback.objects.count() == 1
    request.refresh_from_db()
    assert (request.status, request.close_reason) == (RequestStatus.CLOSED, "operator")
    operator_lines = Message.objects.filter(dialog=request.dialog, author_kind=AuthorKind.OPERATOR)
    assert [(line.author_name, line.text) for line in operator_lines] == [
        (OPERATOR_NAME, "How can I help?")
    ]
    assert OperatorAlert.objects.get(request=request).state == "accepted"
    telegram.assert_all_handled()


def test_telegram_user_talks_to_a_console_operator_and_rates(telegram, new_page):
    # given: the demo operator in the console
    console = new_page()
    operator_logs_in(console, telegram.site)

    # and: a Telegram user who started the bot and wrote to it
    telegram.write(CLIENT_USER, "/start", first_name="Ann")
    greeting = telegram.wait_for_message(CLIENT_USER, 1)
    assert GREETING.match(greeting.params["text"])
    telegram.write(CLIENT_USER, "Where is my parcel?", first_name="Ann")

    # when: the user asks for a human
    telegram.write(CLIENT_USER, "/human", first_name="Ann")

    # then: the console shows the request live, with what the user wrote
    pending = console.locator("#list-pending li")
    expect(pending).to_have_count(1)
    expect(console.locator("#count-pending")).to_have_text("1")
    request = Request.objects.get()
    assert request.dialog.messenger == Messenger.TELEGRAM
    assert request.dialog.client.external_id == str(CLIENT_USER)

    # when: the operator opens and accepts it
    pending.click()
    expect(
        console.locator("#messages .from-client .text").filter(has_text="Where is my parcel?")
    ).to_have_count(1)
    console.locator("#accept").click()

    # then: the Telegram user is told who they talk to
    expect(console.locator("#reply")).to_be_visible()
    telegram.api.wait_for(
        "sendMessage", 1, TELEGRAM_WAIT, chat_id=CLIENT_USER, text=f"Connected to {OPERATOR_NAME}"
    )

    # when: the operator replies
    console.locator("#reply-text").fill("Hello Ann, your parcel leaves today.")
    console.locator("#reply-text").press("Enter")

    # then: the Telegram user reads it as "Name: text"
    telegram.api.wait_for(
        "sendMessage",
        1,
        TELEGRAM_WAIT,
        chat_id=CLIENT_USER,
        text=f"{OPERATOR_NAME}: Hello Ann, your parcel leaves today.",
    )
    expect(console.locator("#messages .from-operator .text")).to_have_text(
        ["Hello Ann, your parcel leaves today."]
    )

    # when: the Telegram user answers
    telegram.write(CLIENT_USER, "Great, thank you!", first_name="Ann")

    # then: the operator sees it live
    expect(
        console.locator("#messages .from-client .text").filter(has_text="Great, thank you!")
    ).to_have_count(1)

    # when: the operator presses Close and confirms
    console.locator("#close-request").click()
    console.locator("#close-confirm-yes").click()

    # then: the console turns read-only, and the Telegram user is told and asked to rate
    expect(console.locator("#readonly")).to_be_visible()
    expect(console.locator("#list-closed li")).to_have_count(1)
    telegram.api.wait_for("sendMessage", 1, TELEGRAM_WAIT, chat_id=CLIENT_USER, text=ENDED)
    prompt = telegram.api.wait_for(
        "sendMessage", 1, TELEGRAM_WAIT, chat_id=CLIENT_USER, text="How did we do?"
    )[0]
    assert callback_data(prompt) == [f"r:{request.pk}:{score}" for score in range(1, 6)]
    prompt_message_id = telegram_message_id(
        {"telegram_chat_id": CLIENT_USER, "payload__text": "How did we do?"}
    )

    # when: the Telegram user taps 4
    telegram.press(CLIENT_USER, f"r:{request.pk}:4", prompt_message_id, first_name="Ann")

    # then: the rating message says thank you, and the feedback is stored against the operator
    thanks = telegram.api.wait_for(
        "editMessageText", 1, TELEGRAM_WAIT, chat_id=CLIENT_USER, message_id=prompt_message_id
    )[0]
    assert thanks.params["text"] == "Thank you for your rating: 4 of 5."
    telegram.api.wait_for("answerCallbackQuery", 1, TELEGRAM_WAIT)
    feedback = Feedback.objects.get()
    assert (feedback.score, feedback.operator_name) == (4, OPERATOR_NAME)
    request.refresh_from_db()
    assert (request.status, request.close_reason) == (RequestStatus.CLOSED, "operator")
    telegram.assert_all_handled()
    expect(console.locator("#notices .notice")).to_have_count(0)
