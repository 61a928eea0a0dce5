"""Demo data: a chat with a greeting, three FAQ buttons, a keyword trigger, a marker
and a connect-operator step, its distribution settings (broadcast, a routing rule, the
channels the operator serves), plus an operator and an admin login; with
--with-history (what `make run` passes), a month of made-up dialogs in the demo chat
(handoff.demo_history). Idempotent: a demo chat that exists is left as it is (so edits
made in Admin survive a restart), and the history is written only into a demo chat
without dialogs."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from chats.enums import Messenger, ScriptKind
from chats.models import Chat, MessengerLink, Script, Step, StepButton
from chats.views import DEMO_PUBLIC_KEY
from distributor.enums import DistributionMode, RouteTarget
from distributor.services import chat_distribution_for, operator_create
from distributor.services.routing import (
    chat_distribution_update,
    operator_channels_set,
    routing_rule_set,
)
from handoff.demo_history import demo_history_create
from handoff.models import HandoffSettings
from handoff.services import handoff_settings_for

OPERATOR_USERNAME = "operator"
OPERATOR_PASSWORD = "baton-operator"  # noqa: S105 - demo login, printed on start
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "baton-admin"  # noqa: S105 - demo login, printed on start
DEMO_TIME_ZONE = "Europe/Rome"


def _script(
    chat: Chat,
    name: str,
    kind: str = ScriptKind.REGULAR,
    keywords: str = "",
    steps: list[dict] | None = None,
) -> Script:
    script = Script.objects.create(chat=chat, name=name, kind=kind, keywords=keywords)
    for position, step in enumerate(steps or []):
        Step.objects.create(script=script, position=position, **step)
    return script


def demo_chat_create() -> Chat:
    chat = Chat.objects.create(
        name="Demo shop assistant",
        public_key=DEMO_PUBLIC_KEY,
        knowledge_base_url="https://example.com/help",
    )
    # working hours stay off: the live demo must connect a person at any hour
    HandoffSettings.objects.create(
        chat=chat, feedback_prompt="How did we do?", time_zone=DEMO_TIME_ZONE
    )
    delivery = _script(
        chat,
        "Delivery",
        steps=[
            {
                "text": "We deliver in 2–4 working days. Orders over €50 ship free.",
                "marker": "faq_delivery",
            },
        ],
    )
    payment = _script(
        chat,
        "Payment",
        steps=[
            {"text": "We take cards, PayPal and bank transfer."},
        ],
    )
    returns = _script(
        chat,
        "Returns",
        steps=[
            {
                "text": "You can return anything within 30 days. Start a return from your order "
                "page."
            },
        ],
    )
    _script(
        chat,
        "Prices",
        keywords="price\nprices\ncost\nhow much",
        steps=[
            {"text": "Prices are on each product page and include VAT.", "marker": "asked_price"},
        ],
    )
    operator = _script(
        chat,
        "Talk to a person",
        keywords="operator\nhuman\nperson",
        steps=[
            {"text": "Let me find a colleague for you.", "connect_operator": True},
        ],
    )
    _script(
        chat,
        "Fallback",
        kind=ScriptKind.FALLBACK,
        steps=[
            {"text": "Sorry, I did not get that. Pick a topic below or type “operator”."},
        ],
    )
    start = _script(
        chat,
        "Greeting",
        kind=ScriptKind.START,
        steps=[
            {"text": "Hi! I am the demo shop's assistant. What can I help you with?"},
        ],
    )
    greeting = start.steps.get()
    for position, (label, target) in enumerate(
        [
            ("Delivery", delivery),
            ("Payment", payment),
            ("Returns", returns),
            ("Talk to a person", operator),
        ]
    ):
        StepButton.objects.create(
            step=greeting, position=position, label=label, target_script=target
        )
    StepButton.objects.create(
        step=greeting, position=9, label="Open the help centre", url="https://example.com/help"
    )
    MessengerLink.objects.create(
        chat=chat, messenger=Messenger.TELEGRAM, url="https://t.me/baton_demo_bot"
    )
    return chat


def demo_distribution_create(*, chat: Chat, operator) -> None:
    """Broadcast (every eligible manager is alerted, the first accept wins), so the
    live demo connects Olga whether or not her console is open; phone numbers read as
    Italian; Olga serves the web widget and Telegram; Telegram routed to the chat's
    own scripts, as the widget is (no rule: the default)."""
    chat_distribution_update(chat=chat, mode=DistributionMode.BROADCAST, phone_region="IT")
    operator_channels_set(
        operator=operator, chat=chat, messengers=[Messenger.WEB, Messenger.TELEGRAM]
    )
    routing_rule_set(chat=chat, messenger=Messenger.TELEGRAM, target=RouteTarget.BOT)


class Command(BaseCommand):
    help = (
        "Load the demo chat and the demo operator and admin logins (idempotent); "
        "--with-history adds a month of demo dialogs to a demo chat that has none."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--with-history",
            action="store_true",
            help="also write a month of made-up dialogs, requests and ratings into the demo "
            "chat, when it has no dialogs yet",
        )

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            chat = Chat.objects.filter(public_key=DEMO_PUBLIC_KEY).first()
            created = chat is None
            if created:
                chat = demo_chat_create()
            # shown in the admin from the start, like a chat made there
            handoff_settings_for(chat.pk)
            operator = operator_create(
                username=OPERATOR_USERNAME,
                password=OPERATOR_PASSWORD,
                display_name="Olga",
                chats=[chat],
            )
            if created:
                demo_distribution_create(chat=chat, operator=operator)
            # shown in the admin from the start too (the auto-replies in the chat's language)
            chat_distribution_for(chat)
            user_model = get_user_model()
            if not user_model.objects.filter(username=ADMIN_USERNAME).exists():
                user_model.objects.create_superuser(ADMIN_USERNAME, "", ADMIN_PASSWORD)
        self.stdout.write(
            f"demo chat {'created' if created else 'already there'}: {chat.name} "
            f"(key {chat.public_key})"
        )
        if not options["with_history"]:
            return
        history = demo_history_create(chat=chat, operator=operator)
        if history is None:
            self.stdout.write("demo history: the demo chat has dialogs already, none added")
            return
        self.stdout.write(
            f"demo history: {history.dialogs} dialogs ({history.open_dialogs} open), "
            f"{history.messages} messages, {history.requests} requests for a person, "
            f"{history.feedback} ratings, {history.prices} message prices, "
            f"in {history.seconds:.1f} s"
        )
