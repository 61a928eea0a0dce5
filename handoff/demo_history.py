"""Demo only: a month of made-up history for the demo chat, so that the dialog viewer,
the reports and the dashboard show something on the first `make run`.

This module writes rows directly and in bulk, on purpose: the live services
(message_post, request_open/accept/close, ...) publish every change to Redis and deliver
it to channels, one transaction per message, which would take minutes for a few hundred
dialogs and would reach for channels these made-up clients do not have. It mirrors what
those services store (the chat's bot as it is configured, the system notices, request
events, ratings, markers) and is called by the load_demo command only, never by the
product. Everything is drawn from seeded random generators (one per dialog), so the
same history comes out every time apart from where `now` puts it in the calendar.

What it leaves out: working hours (the demo chat has them off), the pre-handoff form,
and the script run after an operator's conversation ends."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from chats.enums import AuthorKind, DialogStatus, HeadsetMode, MessageDirection, Messenger
from chats.models import (
    Chat,
    Client,
    Dialog,
    MarkerHit,
    Message,
    MessagePrice,
    PageVisit,
)
from chats.selectors import BotScript, ChatBot, chat_bot_get
from chats.services.billing import dialog_costs_recompute
from chats.services.bot_engine import script_matching
from distributor.models import CustomerBinding, Operator
from distributor.services import customer_bind
from handoff.enums import CloseReason, Fallback, RequestReason, RequestStatus
from handoff.models import Feedback, HandoffSettings, Request, RequestEvent
from handoff.services import handoff_settings_for

SEED = 2026
HISTORY_DAYS = 30
DAILY_CLOSED_DIALOGS = 300  # spread over the HISTORY_DAYS days before today
RECENT_CLOSED_DIALOGS = 8  # earlier today (or late yesterday): the charts' last day
OPEN_DIALOGS = 5  # the bot is answering them now
HANDOFF_SHARE = 0.42
RETURNING_CLIENT_SHARE = 0.22

# besides the demo operator (load_demo's "operator"): (username, display name, how slow
# they are compared with the others, so the SLA figures differ per operator)
DEMO_OPERATORS = [
    ("demo.giulia", "Giulia", 0.7),
    ("demo.marco", "Marco", 1.25),
    ("demo.ivan", "Ivan", 1.9),
]
FIRST_OPERATOR_SPEED = 1.0
OPERATOR_WEIGHTS = [35, 25, 25, 15]  # the demo operator first, then DEMO_OPERATORS

DEMO_CUSTOMERS = [
    ("Giulia Rossi", "giulia.rossi@example.com", "+39 347 555 0101"),
    ("John Smith", "john.smith@example.com", ""),
    ("Anna Smirnova", "anna.smirnova@example.com", "+7 912 555 0102"),
]

MESSENGER_WEIGHTS = {
    Messenger.WEB: 40,
    Messenger.TELEGRAM: 20,
    Messenger.WHATSAPP: 17,
    Messenger.VIBER: 8,
    Messenger.VK: 6,
    Messenger.FACEBOOK: 5,
    Messenger.LINE: 2,
    Messenger.SLACK: 2,
}
LANGUAGE_WEIGHTS = {"en": 88, "ru": 6, "it": 6}

# (messenger, direction, price, valid from (days ago), valid until (days ago) or None):
# created only when no message price exists at all. WhatsApp's outbound price changed
# twelve days ago, so billing has two periods to tell apart.
DEMO_PRICES = [
    (Messenger.WHATSAPP, MessageDirection.OUTBOUND, "0.0400", 365, 12),
    (Messenger.WHATSAPP, MessageDirection.OUTBOUND, "0.0500", 12, None),
    (Messenger.WHATSAPP, MessageDirection.INBOUND, "0.0050", 365, None),
    (Messenger.VIBER, MessageDirection.OUTBOUND, "0.0300", 365, None),
    (Messenger.VK, MessageDirection.OUTBOUND, "0.0100", 365, None),
    (Messenger.FACEBOOK, MessageDirection.OUTBOUND, "0.0150", 365, None),
]

WEB_PAGES = [
    ("https://shop.example.com/", "Demo shop"),
    ("https://shop.example.com/jackets/", "Jackets"),
    ("https://shop.example.com/jackets/blue-rain-jacket/", "Blue rain jacket"),
    ("https://shop.example.com/shoes/", "Shoes"),
    ("https://shop.example.com/shoes/trail-runner-2/", "Trail Runner 2"),
    ("https://shop.example.com/cart/", "Your cart"),
    ("https://shop.example.com/checkout/", "Checkout"),
    ("https://shop.example.com/account/orders/", "My orders"),
    ("https://shop.example.com/help/delivery/", "Delivery"),
    ("https://shop.example.com/help/returns/", "Returns"),
]

# what clients type to the bot, by topic and language; the bot answers them as the
# chat's scripts would (a keyword trigger or the fallback)
CLIENT_QUESTIONS = {
    "en": {
        "delivery": [
            "When will my order arrive?",
            "How long does delivery take?",
            "Do you ship to Italy?",
            "Where is my parcel?",
            "my order has not arrived yet",
            "Can I track my order?",
            "Is delivery free?",
        ],
        "price": [
            "How much is the blue rain jacket?",
            "What is the price of delivery?",
            "Do prices include VAT?",
            "how much does express delivery cost",
            "Is the price the same in the shop?",
        ],
        "other": [
            "Do you have the trail runners in size 42?",
            "Is the shop open on Sunday?",
            "My discount code does not work",
            "Can I change my delivery address?",
            "hello",
            "I forgot my password",
            "Can I pay on delivery?",
            "Do you have a gift card?",
        ],
        "person": [
            "I want to talk to a person",
            "operator please",
            "Can I speak to a human?",
            "Please connect me to an operator",
        ],
    },
    "ru": {
        "delivery": ["Здравствуйте, где мой заказ?", "Сколько идёт доставка?"],
        "price": ["Сколько стоит доставка?", "Цены указаны с НДС?"],
        "other": ["Хочу вернуть товар", "Не работает промокод"],
        "person": [],
    },
    "it": {
        "delivery": ["Buongiorno, quando arriva il mio ordine?", "Spedite in Sicilia?"],
        "price": ["Quanto costa la spedizione?", "Il prezzo include l'IVA?"],
        "other": ["Vorrei fare un reso", "Il codice sconto non funziona"],
        "person": [],
    },
}

# the conversation with an operator: what the client explains, and the operator's
# answers in order
OPERATOR_TALKS = {
    "en": [
        (
            "My order number is 10482 and it has not arrived",
            [
                "Let me check that for you.",
                "Your parcel is with the courier and should arrive tomorrow.",
            ],
        ),
        (
            "The tracking page has said 'in transit' for a week",
            [
                "Sorry about that, let me call the courier.",
                "I have asked the courier to deliver it first thing in the morning.",
            ],
        ),
        (
            "The jacket is too small, I would like to return it",
            [
                "Of course. You can return it within 30 days, free of charge.",
                "I have sent you a return label by e-mail.",
            ],
        ),
        (
            "I received the wrong colour",
            ["Sorry about that! I have sent you a return label by e-mail."],
        ),
        (
            "I was charged twice for my order",
            [
                "Let me check the payment.",
                "I can see the second payment; it will be refunded within 3 days.",
            ],
        ),
        (
            "Can I pay by bank transfer?",
            ["Yes, bank transfer works. The details are in your order confirmation."],
        ),
        (
            "I would like to cancel my order",
            [
                "Let me have a look at your order.",
                "Your order is cancelled and the refund is on its way.",
            ],
        ),
        (
            "Can I change my delivery address?",
            [
                "Sure, I can see the new address in your account.",
                "Done, I have updated your order.",
            ],
        ),
    ],
    "ru": [
        (
            "Номер заказа 10482, он до сих пор не пришёл",
            ["Сейчас проверю.", "Посылка у курьера, доставка завтра."],
        ),
        ("Куртка мала, хочу вернуть", ["Конечно, отправили вам этикетку для возврата на e-mail."]),
        ("Деньги списали дважды", ["Вижу второй платёж, вернём его в течение 3 дней."]),
    ],
    "it": [
        (
            "Il mio ordine 10482 non è ancora arrivato",
            ["Controllo subito.", "Il pacco è dal corriere, arriva domani."],
        ),
        (
            "La giacca è piccola, vorrei restituirla",
            ["Certo, ti ho inviato l'etichetta per il reso."],
        ),
        (
            "Mi avete addebitato due volte",
            ["Vedo il secondo addebito, verrà rimborsato entro 3 giorni."],
        ),
    ],
}
OPERATOR_GREETINGS = {
    "en": ["Hi, I'm {name}. How can I help?", "Hello! {name} here, let me help you."],
    "ru": ["Здравствуйте! Меня зовут {name}. Чем могу помочь?"],
    "it": ["Ciao, sono {name}. Come posso aiutarti?"],
}
CLIENT_THANKS = {
    "en": ["Thank you!", "Thanks, that helps", "Great, thanks a lot", "ok thank you"],
    "ru": ["Спасибо!"],
    "it": ["Grazie mille!"],
}
OPERATOR_CLOSINGS = {
    "en": ["Is there anything else I can help with?", "Happy to help. Have a nice day!"],
    "ru": ["Могу ещё чем-то помочь?"],
    "it": ["Posso aiutarti in altro?"],
}
FEEDBACK_COMMENTS = [
    "Quick and friendly",
    "Solved my problem, thank you",
    "Took a while to get an answer",
    "",
]

FIRST_NAMES = {
    "en": ["Emma", "Oliver", "Sophie", "Jack", "Mia", "Harry", "Chloe", "Leo", "Grace", "Sam"],
    "ru": ["Анна", "Дмитрий", "Ольга", "Сергей", "Мария"],
    "it": ["Giulia", "Luca", "Chiara", "Marco", "Sara"],
}
LAST_INITIALS = "ABCDEFGHKLMNPRSTW"

# local hour of the day -> how busy it is
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 14, 20, 22, 20, 14, 13, 17, 19, 18, 15, 11, 9, 7, 5, 3, 2]
WEEKDAY_WEIGHTS = [1.0, 1.0, 0.95, 1.0, 0.9, 0.6, 0.45]


def seeded(name: str) -> random.Random:
    """A generator of its own for each part, so that one part drawing more or less
    (a chat whose scripts were edited) changes nothing of the others."""
    return random.Random(f"{SEED}-{name}")  # noqa: S311 - made-up demo data, not secrets


# --- cost ---------------------------------------------------------------------------


def demo_prices_create(*, now: datetime, zone: ZoneInfo) -> int:
    """The demo message prices, unless prices exist already (an admin's are kept)."""
    if MessagePrice.objects.exists():
        return 0

    def midnight(days_ago: int) -> datetime:
        day = now.astimezone(zone).date() - timedelta(days=days_ago)
        return datetime.combine(day, dt_time(0), tzinfo=zone)

    MessagePrice.objects.bulk_create(
        MessagePrice(
            messenger=messenger,
            direction=direction,
            price=Decimal(price),
            valid_from=midnight(since),
            valid_until=None if until is None else midnight(until),
        )
        for messenger, direction, price, since, until in DEMO_PRICES
    )
    return len(DEMO_PRICES)


# --- drafts: one dialog in seconds from its start, before it has a date ---------------


@dataclass
class MessageDraft:
    at: float
    author_kind: str
    text: str
    author_name: str = ""
    buttons: list[dict] = field(default_factory=list)
    attachments: list[dict] = field(default_factory=list)
    rating_of: RequestDraft | None = None  # its attachment names the request's id


@dataclass
class EventDraft:
    at: float
    from_status: str
    to_status: str
    note: str
    actor: Operator | None = None


@dataclass
class RequestDraft:
    reason: str
    created: float
    operator: Operator | None = None
    accepted: float | None = None
    closed: float | None = None
    close_reason: str = ""
    feedback_asked: bool = False
    events: list[EventDraft] = field(default_factory=list)
    feedback: tuple[float, int, str] | None = None  # (at, score, comment)
    row: Request | None = None


@dataclass
class DialogDraft:
    index: int
    messenger: str
    language: str
    is_open: bool
    messages: list[MessageDraft] = field(default_factory=list)
    markers: list[tuple[float, str]] = field(default_factory=list)
    visits: list[tuple[float, str, str]] = field(default_factory=list)
    requests: list[RequestDraft] = field(default_factory=list)
    fallback_count: int = 0
    client_message_count: int = 0
    closed: float | None = None  # the client ended it; None: open, or closed when idle
    start: datetime | None = None
    client: Client | None = None

    @property
    def duration(self) -> float:
        return self.messages[-1].at if self.messages else 0.0


class Conversation:
    """Plays one dialog: the client, the chat's bot as configured, the request for a
    person and the operator, advancing a clock (seconds from the dialog's start)."""

    def __init__(
        self,
        *,
        draft: DialogDraft,
        rng: random.Random,
        bot: ChatBot,
        settings: HandoffSettings,
        matcher: ScriptMatcher,
    ) -> None:
        self.draft, self.rng, self.bot, self.settings = draft, rng, bot, settings
        self.matcher = matcher
        self.clock = 0.0
        self.with_bot = True

    def tick(self, low: float, high: float) -> float:
        self.clock += self.rng.uniform(low, high)
        return self.clock

    def post(self, author_kind: str, text: str, **fields) -> MessageDraft:
        message = MessageDraft(at=self.tick(0.2, 1.2), author_kind=author_kind, text=text, **fields)
        self.draft.messages.append(message)
        return message

    def translated(self, text, params: dict | None = None) -> str:
        """A notice in the chat's language, as the live services post it."""
        with override(self.bot.language):
            return str(text) % params if params else str(text)

    def system(self, text, params: dict | None = None, **fields) -> MessageDraft:
        return self.post(AuthorKind.SYSTEM, self.translated(text, params), **fields)

    def script(self, script: BotScript) -> bool:
        """Post a script's steps as the bot engine does; True at a connect-operator mark."""
        for step in script.steps:
            if step.text.strip():
                self.post(
                    AuthorKind.BOT,
                    step.text,
                    author_name=self.bot.name,
                    buttons=[dict(button) for button in step.buttons],
                )
            if step.marker:
                self.draft.markers.append((self.clock, step.marker))
            if step.connect_operator:
                return True
        return False

    def client(self, text: str, *, think: tuple[float, float] = (4, 40)) -> None:
        self.tick(*think)
        self.draft.messages.append(
            MessageDraft(at=self.clock, author_kind=AuthorKind.CLIENT, text=text)
        )
        self.draft.client_message_count += 1

    def client_asks_bot(self, text: str, script: BotScript | None = None) -> bool:
        """A typed question (or a pressed button, with its script); the bot answers.
        True when the answer asks for a person."""
        self.client(text)
        script = script or self.matcher.matching(text)
        if script is not None:
            return self.script(script)
        if self.draft.client_message_count <= 1 and not self.bot.reply_to_first_message:
            return False
        self.draft.fallback_count += 1
        if self.bot.fallback is not None:
            return self.script(self.bot.fallback)
        text = self.translated(_("Sorry, I did not understand. Please choose one of the options."))
        self.post(AuthorKind.BOT, text, author_name=self.bot.name)
        return False

    # --- a request for a person ---

    def request_open(self, reason: str) -> RequestDraft:
        request = RequestDraft(reason=reason, created=self.tick(0.2, 0.8))
        request.events.append(
            EventDraft(request.created, "", RequestStatus.PENDING, f"opened: {reason}")
        )
        self.draft.requests.append(request)
        self.system(_("Please wait, we are connecting you to an operator."))
        return request

    def transition(
        self, request: RequestDraft, from_status: str, to_status: str, note: str, actor=None
    ) -> None:
        request.events.append(EventDraft(self.clock, from_status, to_status, note, actor))

    def request_finish(self, request: RequestDraft, reason: str) -> None:
        """After the transition to closed (its event's time is the request's closed_at)."""
        request.closed = request.events[-1].at
        request.close_reason = reason
        if request.accepted is not None:
            self.system(_("The conversation with the operator has ended."))
            if self.settings.feedback_enabled:
                self.post(
                    AuthorKind.SYSTEM,
                    self.settings.feedback_prompt,
                    attachments=[{"kind": "rating", "scale": self.settings.feedback_scale}],
                    rating_of=request,
                )
                request.feedback_asked = True
        self.with_bot = True

    def nobody_accepts(self, request: RequestDraft) -> None:
        """The accept timeout runs out: the chat's fallback (handoff.services.deadlines)."""
        self.clock = request.created + self.settings.accept_timeout_seconds
        self.transition(
            request, RequestStatus.PENDING, RequestStatus.EXPIRED, "nobody accepted in time"
        )
        fallback = self.settings.fallback
        if fallback == Fallback.QUEUE:
            self.transition(request, RequestStatus.EXPIRED, RequestStatus.QUEUED, "fallback: queue")
            self.clock += self.settings.queue_max_wait_seconds
            self.transition(
                request, RequestStatus.QUEUED, RequestStatus.EXPIRED, "queue wait ran out"
            )
            self.transition(
                request, RequestStatus.EXPIRED, RequestStatus.CLOSED, "fallback: unavailable"
            )
            self.system(self.settings.unavailable_text)
            self.request_finish(request, CloseReason.QUEUE_TIMEOUT)
        elif fallback == Fallback.FORM:
            self.transition(
                request, RequestStatus.EXPIRED, RequestStatus.CLOSED, "fallback: contact form"
            )
            self.system(
                self.settings.lead_form_text,
                attachments=[
                    {"kind": "contact_form", "values": {"name": "", "phone": "", "email": ""}}
                ],
            )
            self.request_finish(request, CloseReason.LEAD_FORM)
        else:
            self.transition(
                request, RequestStatus.EXPIRED, RequestStatus.CLOSED, "fallback: unavailable notice"
            )
            self.system(self.settings.unavailable_text)
            self.request_finish(request, CloseReason.UNAVAILABLE)

    def accept(self, request: RequestDraft, operator: Operator, speed: float) -> None:
        self.clock = request.created + self.rng.uniform(3, 30) * speed
        request.operator = operator
        request.accepted = self.clock
        self.transition(
            request,
            RequestStatus.PENDING,
            RequestStatus.ACCEPTED,
            f"accepted by {operator.display_name}",
            operator,
        )
        self.system(_("Connected to %(name)s"), {"name": operator.display_name})

    def operator_says(self, operator: Operator, text: str, delay: float) -> None:
        self.clock += delay
        self.draft.messages.append(
            MessageDraft(
                at=self.clock,
                author_kind=AuthorKind.OPERATOR,
                text=text,
                author_name=operator.display_name,
            )
        )

    def response_delay(self, speed: float, *, first: bool) -> float:
        """How long the operator takes: mostly inside the SLAs, sometimes well over."""
        if first:
            delay = self.rng.uniform(4, 22) * speed
            slow = self.rng.random() < 0.12 * speed
            return delay + (self.rng.uniform(40, 200) if slow else 0)
        delay = self.rng.uniform(8, 70) * speed
        slow = self.rng.random() < 0.1 * speed
        return delay + (self.rng.uniform(80, 300) if slow else 0)

    def operator_talk(self, request: RequestDraft, operator: Operator, speed: float) -> str:
        """The operator and the client talk; returns how the request ends."""
        language, rng = self.draft.language, self.rng
        self.with_bot = False
        explanation, answers = rng.choice(OPERATOR_TALKS[language])
        greeting = rng.choice(OPERATOR_GREETINGS[language]).format(name=operator.display_name)
        self.operator_says(operator, greeting, self.response_delay(speed, first=True))
        self.client(explanation, think=(6, 45))
        for answer in answers:
            self.operator_says(operator, answer, self.response_delay(speed, first=False))
        ending = rng.choices(
            [CloseReason.OPERATOR, CloseReason.CLIENT, CloseReason.CLIENT_TIMEOUT],
            weights=[62, 20, 18],
        )[0]
        if ending == CloseReason.CLIENT_TIMEOUT:
            self.clock += self.settings.reply_timeout_seconds
            return ending
        self.client(rng.choice(CLIENT_THANKS[language]), think=(5, 30))
        if ending == CloseReason.OPERATOR:
            closing = rng.choice(OPERATOR_CLOSINGS[language])
            self.operator_says(operator, closing, self.response_delay(speed, first=False))
            self.tick(10, 90)
        else:
            self.tick(3, 20)
        return ending

    def handoff(self, request: RequestDraft, operators: Sequence[tuple[Operator, float]]) -> bool:
        """What happens to the request; True when the client gave up and left."""
        rng = self.rng
        outcome = rng.choices(["talk", "nobody", "gave_up", "silent"], weights=[78, 12, 5, 5])[0]
        if outcome == "nobody":
            self.nobody_accepts(request)
            return False
        if outcome == "gave_up":
            self.tick(15, min(100, self.settings.accept_timeout_seconds - 5))
            self.transition(request, RequestStatus.PENDING, RequestStatus.CLOSED, "closed: client")
            self.request_finish(request, CloseReason.CLIENT)
            return True
        operator, speed = rng.choices(operators, weights=OPERATOR_WEIGHTS[: len(operators)])[0]
        self.accept(request, operator, speed)
        if outcome == "silent":  # accepted, then never wrote: the idle deadline closes it
            self.clock += self.settings.operator_idle_seconds
            reason = CloseReason.OPERATOR_IDLE
        else:
            reason = self.operator_talk(request, operator, speed)
        actor = operator if reason == CloseReason.OPERATOR else None
        self.transition(
            request, RequestStatus.ACCEPTED, RequestStatus.CLOSED, f"closed: {reason}", actor
        )
        self.request_finish(request, reason)
        rates = {CloseReason.OPERATOR: 0.75, CloseReason.CLIENT_TIMEOUT: 0.3}.get(reason, 0)
        if request.feedback_asked and rng.random() < rates:
            request.feedback = (self.tick(5, 90), self.score(speed), rng.choice(FEEDBACK_COMMENTS))
        return reason == CloseReason.CLIENT

    def score(self, speed: float) -> int:
        """A rating on the chat's scale: mostly good, worse for slower operators."""
        scale = self.settings.feedback_scale
        share = min(1.0, max(0.0, self.rng.gauss(0.9 - (speed - 1) * 0.25, 0.2)))
        return max(1, min(scale, round(1 + share * (scale - 1))))

    def end_by_client(self) -> None:
        self.tick(5, 120)
        self.system(_("The chat has ended."))
        self.draft.closed = self.clock


class ScriptMatcher:
    """The chat's keyword triggers (chats.services.bot_engine.script_matching), each
    text asked once."""

    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id
        self._answers: dict[str, BotScript | None] = {}

    def matching(self, text: str) -> BotScript | None:
        if text not in self._answers:
            self._answers[text] = script_matching(chat_id=self.chat_id, text=text)
        return self._answers[text]


def _connects(script: BotScript) -> bool:
    return any(step.connect_operator for step in script.steps)


def dialog_draft(
    *,
    index: int,
    is_open: bool,
    bot: ChatBot,
    settings: HandoffSettings,
    matcher: ScriptMatcher,
    operators: Sequence[tuple[Operator, float]],
    headset_mode: str = HeadsetMode.ALWAYS,
) -> DialogDraft:
    """One dialog, drawn from its own seeded generator."""
    rng = seeded(f"dialog-{index}")
    draft = DialogDraft(
        index=index,
        messenger=rng.choices(list(MESSENGER_WEIGHTS), weights=MESSENGER_WEIGHTS.values())[0],
        language=rng.choices(list(LANGUAGE_WEIGHTS), weights=LANGUAGE_WEIGHTS.values())[0],
        is_open=is_open,
    )
    talk = Conversation(draft=draft, rng=rng, bot=bot, settings=settings, matcher=matcher)
    questions = CLIENT_QUESTIONS[draft.language]
    if draft.messenger == Messenger.WEB:
        for page in sorted(rng.sample(range(len(WEB_PAGES)), k=rng.randint(1, 4))):
            url, title = WEB_PAGES[page]
            draft.visits.append((-rng.uniform(10, 900), url, title))
        draft.visits.sort()
    greeting_buttons = []
    if bot.start is not None:
        talk.script(bot.start)
        greeting_buttons = [
            (button["label"], bot.scripts[bot.buttons[button["id"]][1]])
            for step in bot.start.steps
            for button in step.buttons
            if bot.buttons.get(button["id"], ("", None))[1] in bot.scripts
        ]
    asks_person = not is_open and rng.random() < HANDOFF_SHARE
    buttons = [item for item in greeting_buttons if not _connects(item[1])]
    connect = False
    asked: set[str] = set()
    for _turn in range(rng.choice([1, 1, 2, 2, 3]) if draft.language == "en" else 1):
        fallbacks = draft.fallback_count
        if draft.language == "en" and buttons and rng.random() < 0.35:
            connect = talk.client_asks_bot(*rng.choice(buttons))
        else:
            topic = rng.choice(["delivery", "delivery", "price", "other"])
            question = rng.choice(questions[topic])
            if question in asked:  # not the same question twice
                question = rng.choice(questions["other"])
            asked.add(question)
            connect = talk.client_asks_bot(question)
            if draft.fallback_count > fallbacks and buttons and rng.random() < 0.5:
                # not understood: the client picks a topic from the greeting instead
                connect = connect or talk.client_asks_bot(*rng.choice(buttons))
        if connect:
            break
    if asks_person and not connect:
        connect_buttons = [item for item in greeting_buttons if _connects(item[1])]
        way = rng.random()
        if draft.language == "en" and connect_buttons and way < 0.3:
            connect = talk.client_asks_bot(*rng.choice(connect_buttons))
        elif questions["person"] and way < 0.65:
            connect = talk.client_asks_bot(rng.choice(questions["person"]))
        if not connect:  # the client taps the headset
            talk.tick(3, 20)
    headset = {
        HeadsetMode.ALWAYS: RequestReason.HEADSET,
        HeadsetMode.TRIGGER: RequestReason.TRIGGER,
    }
    headset_reason = headset.get(headset_mode)
    if connect or (asks_person and headset_reason):
        request = talk.request_open(RequestReason.SCRIPT if connect else headset_reason)
        if talk.handoff(request, operators) and not is_open:
            talk.end_by_client()
            return draft
    if not is_open and rng.random() < 0.55:
        talk.end_by_client()
    return draft


# --- the history -------------------------------------------------------------------------


@dataclass
class DemoHistory:
    dialogs: int
    open_dialogs: int
    messages: int
    requests: int
    feedback: int
    prices: int
    seconds: float


def _day_start(*, now: datetime, zone: ZoneInfo, rng: random.Random) -> datetime:
    """A moment in the HISTORY_DAYS days before today (local), busier on weekdays,
    in working hours and lately."""
    today = now.astimezone(zone).date()
    days = list(range(1, HISTORY_DAYS + 1))
    weights = [
        WEEKDAY_WEIGHTS[(today - timedelta(days=days_ago)).weekday()]
        * (1.5 - days_ago / (2 * HISTORY_DAYS))
        for days_ago in days
    ]
    day = today - timedelta(days=rng.choices(days, weights=weights)[0])
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    local = datetime(day.year, day.month, day.day, hour, tzinfo=zone) + timedelta(
        seconds=rng.uniform(0, 3600)
    )
    return local.astimezone(UTC)


def _starts_place(drafts: list[DialogDraft], *, now: datetime, zone: ZoneInfo) -> None:
    """Give each draft its start: the daily ones over the last days, the recent ones
    earlier today, the open ones in the last hour; every dialog ends before `now`."""
    for draft in drafts:
        rng = seeded(f"start-{draft.index}")
        latest = now - timedelta(minutes=5, seconds=draft.duration)
        if draft.is_open:
            start = now - timedelta(seconds=draft.duration + rng.uniform(60, 45 * 60))
        elif draft.index >= DAILY_CLOSED_DIALOGS:
            start = latest - timedelta(seconds=rng.uniform(0, 8 * 3600))
        else:
            start = min(_day_start(now=now, zone=zone, rng=rng), latest)
        draft.start = start.replace(microsecond=0)


def _ends(draft: DialogDraft, *, now: datetime) -> tuple[datetime, datetime | None]:
    """(last message time, closed_at): the client's end, or the idle sweep's."""
    last = draft.start + timedelta(seconds=draft.duration)
    if draft.is_open:
        return last, None
    if draft.closed is not None:
        return last, draft.start + timedelta(seconds=draft.closed)
    idle = timedelta(hours=django_settings.BATON_DIALOG_IDLE_CLOSE_HOURS, seconds=37)
    return last, min(last + idle, now)


def _external_id(messenger: str, rng: random.Random) -> str:
    if messenger == Messenger.WEB:
        return rng.getrandbits(128).to_bytes(16, "big").hex()
    if messenger == Messenger.WHATSAPP:
        return f"39{rng.randint(3200000000, 3499999999)}"
    return str(rng.randint(10**8, 10**10))


def _client_name(messenger: str, language: str, rng: random.Random) -> str:
    if messenger == Messenger.WEB and rng.random() < 0.7:
        return ""  # an anonymous visitor
    return f"{rng.choice(FIRST_NAMES[language])} {rng.choice(LAST_INITIALS)}."


def _clients_assign(chat: Chat, drafts: list[DialogDraft], *, now: datetime) -> list[Client]:
    """A client per dialog: mostly new ones, some returning on the same channel (never
    while their previous dialog was still open)."""
    rng = seeded("clients")
    clients: list[Client] = []
    free_after: dict[int, datetime] = {}  # id(client) -> when its last dialog closed
    by_identity: dict[tuple[str, str], list[Client]] = {}
    taken: set[tuple[str, str]] = set()
    for draft in sorted(drafts, key=lambda draft: (draft.start, draft.index)):
        _last, closed = _ends(draft, now=now)
        returning = [
            client
            for client in by_identity.get((draft.messenger, draft.language), [])
            if free_after[id(client)] < draft.start - timedelta(hours=2)
        ]
        if returning and rng.random() < RETURNING_CLIENT_SHARE:
            client = rng.choice(returning)
        else:
            external_id = _external_id(draft.messenger, rng)
            while (draft.messenger, external_id) in taken:
                external_id = _external_id(draft.messenger, rng)
            taken.add((draft.messenger, external_id))
            client = Client(
                chat=chat,
                messenger=draft.messenger,
                external_id=external_id,
                name=_client_name(draft.messenger, draft.language, rng),
                created_at=draft.start,
            )
            clients.append(client)
            by_identity.setdefault((draft.messenger, draft.language), []).append(client)
        draft.client = client
        free_after[id(client)] = closed or now
    return clients


def _customers_choose(drafts: list[DialogDraft]) -> list[tuple[tuple[str, str, str], Client]]:
    """The clients with most dialogs become the demo customers; the first customer
    wrote from two channels (two clients, one customer)."""

    def identity(client: Client) -> tuple[str, str]:
        return client.messenger, client.external_id

    counts = Counter(identity(draft.client) for draft in drafts)
    clients = {identity(draft.client): draft.client for draft in drafts}
    ranked = sorted(
        clients.values(), key=lambda client: (-counts[identity(client)], client.created_at)
    )
    first, *others = ranked
    second = next(client for client in others if client.messenger != first.messenger)
    rest = [client for client in others if client is not second]
    clients_of = [[first, second], *([client] for client in rest[: len(DEMO_CUSTOMERS) - 1])]
    return [
        (customer, client)
        for customer, bound in zip(DEMO_CUSTOMERS, clients_of, strict=True)
        for client in bound
    ]


def demo_operators(chat: Chat, first: Operator) -> list[tuple[Operator, float]]:
    """The demo operator and DEMO_OPERATORS, serving the chat, with their speeds. Written
    directly rather than with operator_create, which tells the consoles of each user
    (none, for a new one) through Redis, which is not running yet under `make run`.
    Their passwords are unusable: they exist to have written the history."""
    operators = [(first, FIRST_OPERATOR_SPEED)]
    user_model = get_user_model()
    for username, display_name, speed in DEMO_OPERATORS:
        user, created = user_model.objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        operator, _created = Operator.objects.get_or_create(
            user=user, defaults={"display_name": display_name}
        )
        operator.chats.add(chat)
        operators.append((operator, speed))
    return operators


def demo_history_create(
    *, chat: Chat, operator: Operator, now: datetime | None = None
) -> DemoHistory | None:
    """Write the demo history into `chat` unless it has any dialog (then write nothing
    and return None): so running it again adds nothing, and a chat with real
    conversations is never flooded. `operator` is the demo operator; three more are
    created. Demo message prices are created when there are none."""
    started = time.perf_counter()
    now = now or timezone.now()
    with transaction.atomic():
        Chat.objects.select_for_update().filter(pk=chat.pk).first()
        if Dialog.objects.filter(chat=chat).exists():
            return None
        settings = handoff_settings_for(chat.pk)
        zone = ZoneInfo(settings.time_zone)
        bot = chat_bot_get(chat_id=chat.pk)
        matcher = ScriptMatcher(chat.pk)
        operators = demo_operators(chat, operator)
        drafts = [
            dialog_draft(
                index=index,
                is_open=index >= DAILY_CLOSED_DIALOGS + RECENT_CLOSED_DIALOGS,
                bot=bot,
                settings=settings,
                matcher=matcher,
                operators=operators,
                headset_mode=chat.headset_mode,
            )
            for index in range(DAILY_CLOSED_DIALOGS + RECENT_CLOSED_DIALOGS + OPEN_DIALOGS)
        ]
        _starts_place(drafts, now=now, zone=zone)
        clients = _clients_assign(chat, drafts, now=now)
        customers = _customers_choose(drafts)
        for (name, _email, _phone), client in customers:
            client.name = name
        prices_created = demo_prices_create(now=now, zone=zone)
        Client.objects.bulk_create(clients)
        rows = _rows_write(chat, drafts, scale=settings.feedback_scale, now=now)
        for (name, email, phone), client in customers:
            customer_bind(client=client, name=name, email=email, phone=phone)
            first = min(draft.start for draft in drafts if draft.client is client)
            CustomerBinding.objects.filter(client=client).update(bound_at=first)
    return DemoHistory(
        dialogs=len(drafts),
        open_dialogs=sum(draft.is_open for draft in drafts),
        messages=rows["messages"],
        requests=rows["requests"],
        feedback=rows["feedback"],
        prices=prices_created,
        seconds=time.perf_counter() - started,
    )


def _rows_write(
    chat: Chat, drafts: list[DialogDraft], *, scale: int, now: datetime
) -> dict[str, int]:
    """Every draft's rows, one bulk insert per table."""

    def moment(draft: DialogDraft, seconds: float) -> datetime:
        return draft.start + timedelta(seconds=seconds)

    dialogs, messages_of = [], []
    for draft in drafts:
        last, closed = _ends(draft, now=now)
        messages = [
            Message(
                sequence=sequence,
                author_kind=message.author_kind,
                author_name=draft.client.name
                if message.author_kind == AuthorKind.CLIENT
                else message.author_name,
                text=message.text,
                buttons=message.buttons,
                attachments=message.attachments,
                created_at=moment(draft, message.at),
                client_msg_id=f"demo-{sequence}"
                if message.author_kind == AuthorKind.CLIENT
                else None,
            )
            for sequence, message in enumerate(draft.messages, start=1)
        ]
        messages_of.append(messages)
        dialogs.append(
            Dialog(
                chat=chat,
                client=draft.client,
                messenger=draft.messenger,
                status=DialogStatus.BOT if draft.is_open else DialogStatus.CLOSED,
                started_at=draft.start,
                closed_at=closed,
                last_message_at=last,
                last_sequence=len(messages),
                client_message_count=draft.client_message_count,
                fallback_count=draft.fallback_count,
            )
        )
    Dialog.objects.bulk_create(dialogs)
    requests = []
    for draft, dialog in zip(drafts, dialogs, strict=True):
        for request in draft.requests:
            request.row = Request(
                dialog=dialog,
                chat=chat,
                status=RequestStatus.CLOSED,
                reason=request.reason,
                operator=request.operator,
                created_at=moment(draft, request.created),
                accepted_at=None if request.accepted is None else moment(draft, request.accepted),
                closed_at=moment(draft, request.closed),
                close_reason=request.close_reason,
                feedback_asked=request.feedback_asked,
            )
            requests.append(request.row)
    Request.objects.bulk_create(requests)
    events, feedback, markers, visits, messages = [], [], [], [], []
    for draft, dialog, dialog_messages in zip(drafts, dialogs, messages_of, strict=True):
        for request in draft.requests:
            events += [
                RequestEvent(
                    request=request.row,
                    from_status=event.from_status,
                    to_status=event.to_status,
                    actor=event.actor.user if event.actor else None,
                    note=event.note,
                    created_at=moment(draft, event.at),
                )
                for event in request.events
            ]
            if request.feedback is not None:
                at, score, comment = request.feedback
                feedback.append(
                    Feedback(
                        dialog=dialog,
                        request=request.row,
                        operator=request.operator,
                        operator_name=request.operator.display_name,
                        scale=scale,
                        score=score,
                        comment=comment,
                        created_at=moment(draft, at),
                    )
                )
        for message, message_draft in zip(dialog_messages, draft.messages, strict=True):
            message.dialog = dialog
            if message_draft.rating_of is not None:
                message.attachments = [
                    {**message.attachments[0], "request": message_draft.rating_of.row.pk}
                ]
        messages += dialog_messages
        markers += [
            MarkerHit(dialog=dialog, marker=marker, created_at=moment(draft, at))
            for at, marker in draft.markers
        ]
        visits += [
            PageVisit(dialog=dialog, url=url, title=title, visited_at=moment(draft, at))
            for at, url, title in draft.visits
        ]
    RequestEvent.objects.bulk_create(events)
    Feedback.objects.bulk_create(feedback)
    Message.objects.bulk_create(messages, batch_size=500)
    MarkerHit.objects.bulk_create(markers)
    PageVisit.objects.bulk_create(visits)
    # each dialog's cost by the one pricing rule, as the message path keeps it
    dialog_costs_recompute(dialog_ids=[dialog.pk for dialog in dialogs])
    return {"messages": len(messages), "requests": len(requests), "feedback": len(feedback)}
