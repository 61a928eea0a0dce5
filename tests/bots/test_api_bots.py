"""API bots through the API: registration, their own settings, the dialogs routed to
them (assignment, capacity, webhook events), replies with buttons, idempotency,
handoff, close; bad input changes nothing; another bot's dialog is a 404."""

from __future__ import annotations

import pytest

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Dialog, Message
from chats.services import (
    UnknownButton,
    bot_button_press,
    dialog_end_by_client,
    dialog_receive_client_message,
)
from chats.services import dialog_start_or_resume as dialog_start
from distributor.enums import ApiScope, DeliveryStatus
from distributor.models import ApiBot, ApiKey, BotAssignment, WebhookDelivery
from distributor.services.api_bots import api_bot_assignments_release_ended, api_bot_for_dialog
from handoff.enums import RequestReason, RequestStatus
from handoff.models import Request
from tests.bots.conftest import api_client, integration_key, register_bot
from tests.chats.factories import ChatFactory, ScriptFactory, StepFactory

pytestmark = pytest.mark.django_db

BOTS = "/api/v1/bots/"


def client_writes(chat, text, *, visitor="visitor-1", client_msg_id=None):
    dialog, _created = dialog_start(chat=chat, messenger=Messenger.WEB, external_id=visitor)
    return dialog_receive_client_message(
        dialog=dialog, text=text, client_msg_id=client_msg_id or f"{visitor}:{text}"
    )


def events(bot) -> list[str]:
    return list(
        WebhookDelivery.objects.filter(bot=bot).order_by("pk").values_list("event", flat=True)
    )


def reply_url(session_id: str, action: str = "messages") -> str:
    return f"{BOTS}dialogs/{session_id}/{action}/"


# --- registration --------------------------------------------------------------------------


def test_an_integration_registers_a_bot_and_gets_its_key_and_secret_once():
    # given a key with managers:write on a chat
    chat = ChatFactory()
    _key, token = integration_key([chat])
    # when
    response = api_client(token).post(
        BOTS,
        {"name": "Echo", "webhook_url": "https://bot.example.com/hook", "chats": [chat.pk]},
        format="json",
    )
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    bot = ApiBot.objects.get(pk=body["id"])
    assert (bot.name, bot.webhook_url, bot.capacity, bot.is_active) == (
        "Echo",
        "https://bot.example.com/hook",
        100,
        True,
    )
    assert bot.signing_secret == body["signing_secret"]
    # its own key: dialogs:write on the chat, and it works
    assert bot.api_key.scopes == [ApiScope.DIALOGS_WRITE]
    assert list(bot.api_key.chats.all()) == [chat]
    me = api_client(body["api_key"]).get(f"{BOTS}me/")
    assert me.status_code == 200
    assert me.json()["name"] == "Echo"
    assert "signing_secret" not in me.json()
    assert "api_key" not in me.json()


def test_registering_needs_managers_write():
    chat = ChatFactory()
    _key, token = integration_key([chat], scopes=[ApiScope.DIALOGS_WRITE, ApiScope.MANAGERS_READ])
    response = api_client(token).post(
        BOTS,
        {"name": "Echo", "webhook_url": "https://b.example.com/", "chats": [chat.pk]},
        format="json",
    )
    assert response.status_code == 403
    assert "managers:write" in response.json()["detail"]
    assert not ApiBot.objects.exists()


def test_registering_without_a_key_is_refused():
    response = api_client("nope.nope").post(BOTS, {}, format="json")
    assert response.status_code in (401, 403)
    assert not ApiBot.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "", "webhook_url": "https://b.example.com/", "chats": ["own"]},
        {"name": "Echo", "webhook_url": "ftp://b.example.com/", "chats": ["own"]},
        {"name": "Echo", "webhook_url": "https://b.example.com/", "chats": []},
        {"name": "Echo", "webhook_url": "https://b.example.com/", "chats": ["other"]},
        {"name": "Echo", "webhook_url": "https://b.example.com/", "chats": ["own"], "capacity": 0},
        {"name": "Echo", "webhook_url": "https://b.example.com/", "chats": "own"},
        {"name": "x" * 101, "webhook_url": "https://b.example.com/", "chats": ["own"]},
        {"name": "Echo\x00", "webhook_url": "https://b.example.com/", "chats": ["own"]},
        {"name": ["Echo"], "webhook_url": {"a": 1}, "chats": [["own"]]},
    ],
)
def test_bad_registrations_get_400_and_change_nothing(body):
    # given a key on one chat, and another chat it does not cover
    own, other = ChatFactory(), ChatFactory()
    _key, token = integration_key([own])
    ids = {"own": own.pk, "other": other.pk}
    if isinstance(body.get("chats"), list):
        body = {
            **body,
            "chats": [
                ids.get(item, item) if isinstance(item, str) else item for item in body["chats"]
            ],
        }
    keys_before = ApiKey.objects.count()
    # when
    response = api_client(token).post(BOTS, body, format="json")
    # then
    assert response.status_code == 400, response.content
    assert response.json()
    assert not ApiBot.objects.exists()
    assert ApiKey.objects.count() == keys_before


def test_a_bot_changes_its_own_settings_and_bad_changes_change_nothing(routed_bot):
    # when
    response = routed_bot.api.patch(
        f"{BOTS}me/",
        {"capacity": 7, "is_active": False, "webhook_url": "https://n.example.com/h"},
        format="json",
    )
    # then
    assert response.status_code == 200
    bot = ApiBot.objects.get(pk=routed_bot.bot.pk)
    assert (bot.capacity, bot.is_active, bot.webhook_url) == (7, False, "https://n.example.com/h")
    # bad input: 400, nothing changed
    for bad in ({"capacity": 0}, {"webhook_url": "file:///etc/passwd"}, {"is_active": "maybe"}):
        refused = routed_bot.api.patch(f"{BOTS}me/", bad, format="json")
        assert refused.status_code == 400, bad
    bot.refresh_from_db()
    assert (bot.capacity, bot.is_active, bot.webhook_url) == (7, False, "https://n.example.com/h")


def test_a_bot_deletes_itself_and_its_key_stops_working(routed_bot):
    response = routed_bot.api.delete(f"{BOTS}me/")
    assert response.status_code == 204
    assert not ApiBot.objects.filter(pk=routed_bot.bot.pk).exists()
    assert ApiKey.objects.get(pk=routed_bot.bot.api_key_id).revoked_at is not None
    assert routed_bot.api.get(f"{BOTS}me/").status_code == 401


def test_an_integration_key_is_not_a_bot():
    chat = ChatFactory()
    _key, token = integration_key([chat], scopes=[ApiScope.DIALOGS_WRITE])
    assert api_client(token).get(f"{BOTS}me/").status_code == 404


# --- routing and events ----------------------------------------------------------------------


def test_a_client_message_in_a_routed_channel_goes_to_the_bot_not_the_scripts(routed_bot):
    # given the chat has a start script and a fallback that would answer
    ScriptFactory(chat=routed_bot.chat, kind="start")
    StepFactory(script=ScriptFactory(chat=routed_bot.chat, kind="fallback"), text="Fallback!")
    # when the client writes twice
    first = client_writes(routed_bot.chat, "hello")
    second = client_writes(routed_bot.chat, "are you there?")
    # then the scripts said nothing, the dialog is the bot's
    dialog = first.message.dialog
    assert first.answers == [] and second.answers == []
    assert list(Message.objects.filter(dialog=dialog).values_list("author_kind", flat=True)) == [
        AuthorKind.CLIENT,
        AuthorKind.CLIENT,
    ]
    assignment = BotAssignment.objects.get(dialog=dialog)
    assert (assignment.bot_id, assignment.released_at) == (routed_bot.bot.pk, None)
    # the bot is told: assigned (with the history), then each message, in order
    assert events(routed_bot.bot) == ["dialog.assigned", "message.created", "message.created"]
    assigned, one, two = WebhookDelivery.objects.filter(bot=routed_bot.bot).order_by("pk")
    assert assigned.payload["dialog"]["session_id"] == dialog.session_id
    assert [item["text"] for item in assigned.payload["messages"]] == ["hello"]
    assert one.payload["message"]["text"] == "hello"
    assert two.payload["message"]["text"] == "are you there?"
    assert two.payload["message"]["author_kind"] == "client"
    assert two.payload["event_id"] == str(two.event_id)
    assert {item.status for item in (assigned, one, two)} == {DeliveryStatus.PENDING}


def test_over_capacity_the_chat_scripts_answer(webhook_receiver):
    # given a bot with room for one dialog, and a chat fallback
    chat = ChatFactory()
    StepFactory(script=ScriptFactory(chat=chat, kind="fallback"), text="Scripts here")
    chat.reply_to_first_message = True
    chat.save()
    routed = register_bot(chat=chat, url=webhook_receiver.url, capacity=1)
    # when two clients write
    first = client_writes(chat, "hi", visitor="a")
    second = client_writes(chat, "hi", visitor="b")
    # then the first is the bot's, the second is answered by the scripts
    assert BotAssignment.objects.get(bot=routed.bot).dialog_id == first.message.dialog_id
    assert first.answers == []
    assert [answer.text for answer in second.answers] == ["Scripts here"]
    assert not BotAssignment.objects.filter(dialog_id=second.message.dialog_id).exists()
    assert events(routed.bot) == ["dialog.assigned", "message.created"]


def test_an_inactive_bot_takes_no_new_dialogs(routed_bot):
    ApiBot.objects.filter(pk=routed_bot.bot.pk).update(is_active=False)
    result = client_writes(routed_bot.chat, "hi")
    assert not BotAssignment.objects.exists()
    assert api_bot_for_dialog(dialog=result.message.dialog) is None
    assert events(routed_bot.bot) == []


# --- what a bot does -------------------------------------------------------------------------


def test_the_bot_replies_with_buttons_and_the_message_is_stored(routed_bot):
    dialog = client_writes(routed_bot.chat, "hi").message.dialog
    # when
    response = routed_bot.api.post(
        reply_url(dialog.session_id),
        {
            "text": "Pick one",
            "buttons": [
                {"text": "Prices", "payload": "prices"},
                {"text": "Website", "url": "https://example.com/"},
            ],
            "client_message_id": "r-1",
        },
        format="json",
    )
    # then
    assert response.status_code == 201, response.content
    message = Message.objects.get(pk=response.json()["id"])
    assert (message.author_kind, message.author_name, message.text) == (
        AuthorKind.BOT,
        "Helper bot",
        "Pick one",
    )
    # stored as the scripts' buttons are (id, label, url), the payload kept for the bot;
    # the ids are above any script button's and exact in JavaScript
    assert [{k: v for k, v in button.items() if k != "id"} for button in message.buttons] == [
        {"label": "Prices", "payload": "prices"},
        {"label": "Website", "url": "https://example.com/"},
    ]
    ids = [button["id"] for button in message.buttons]
    assert all(2**52 <= button_id < 2**53 for button_id in ids)
    assert len(set(ids)) == 2
    assert response.json()["sequence"] == message.sequence == 2
    # bot messages are not sent back to the bot
    assert "message.created" not in events(routed_bot.bot)[2:]


def test_a_repeated_client_message_id_returns_the_same_message_with_200(routed_bot):
    dialog = client_writes(routed_bot.chat, "hi").message.dialog
    body = {"text": "Hello!", "client_message_id": "same"}
    first = routed_bot.api.post(reply_url(dialog.session_id), body, format="json")
    again = routed_bot.api.post(reply_url(dialog.session_id), body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Message.objects.filter(dialog=dialog, author_kind=AuthorKind.BOT).count() == 1
    assert Dialog.objects.get(pk=dialog.pk).last_sequence == 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": "   "},
        {"text": "x" * 4001},
        {"text": "hi\x00"},
        {"text": "hi", "buttons": "no"},
        {"text": "hi", "buttons": [{"text": "a"}]},
        {"text": "hi", "buttons": [{"text": "a", "payload": "p", "url": "https://e.com/"}]},
        {"text": "hi", "buttons": [{"text": "a", "url": "javascript:alert(1)"}]},
        {"text": "hi", "buttons": [{"text": "", "payload": "p"}]},
        {"text": "hi", "buttons": [{"text": "a", "payload": "p" * 65}]},
        {"text": "hi", "buttons": [{"text": "a", "payload": "p"}] * 11},
        {"text": "hi", "client_message_id": "x" * 61},
        {"text": "hi", "client_message_id": ""},
        {"text": ["hi"]},
    ],
)
def test_bad_replies_get_400_and_change_nothing(routed_bot, body):
    dialog = client_writes(routed_bot.chat, "hi").message.dialog
    response = routed_bot.api.post(reply_url(dialog.session_id), body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()
    assert Message.objects.filter(dialog=dialog).count() == 1
    assert Dialog.objects.get(pk=dialog.pk).last_sequence == 1


def test_another_bots_dialog_is_a_404_and_nothing_is_written(routed_bot, webhook_receiver):
    # given another bot on another chat, with a dialog of its own
    other = register_bot(chat=ChatFactory(), url=webhook_receiver.url, name="Other")
    theirs = client_writes(other.chat, "hi").message.dialog
    mine = client_writes(routed_bot.chat, "hi").message.dialog
    # when this bot acts on it
    for action, body in (("messages", {"text": "mine now"}), ("handoff", {}), ("close", {})):
        response = routed_bot.api.post(reply_url(theirs.session_id, action), body, format="json")
        # then
        assert response.status_code == 404, action
    assert (
        routed_bot.api.post(reply_url("no-such-session"), {"text": "x"}, format="json").status_code
        == 404
    )
    assert Message.objects.filter(dialog=theirs).count() == 1
    assert Dialog.objects.get(pk=theirs.pk).status == DialogStatus.BOT
    assert not Request.objects.exists()
    # and the other bot can act on its own, not on this bot's
    assert (
        other.api.post(reply_url(mine.session_id), {"text": "x"}, format="json").status_code == 404
    )
    assert (
        other.api.post(reply_url(theirs.session_id), {"text": "ok"}, format="json").status_code
        == 201
    )


def test_an_unrouted_dialog_is_a_404(routed_bot):
    # a dialog of the bot's chat on a channel not routed to it (telegram)
    dialog, _created = dialog_start(
        chat=routed_bot.chat, messenger=Messenger.TELEGRAM, external_id="tg-1"
    )
    dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="t1")
    response = routed_bot.api.post(reply_url(dialog.session_id), {"text": "x"}, format="json")
    assert response.status_code == 404
    assert not BotAssignment.objects.exists()


def test_the_bot_hands_off_a_request_opens_and_the_dialog_is_released(routed_bot):
    dialog = client_writes(routed_bot.chat, "I need a person").message.dialog
    # when
    response = routed_bot.api.post(reply_url(dialog.session_id, "handoff"), format="json")
    # then
    assert response.status_code == 201, response.content
    request = Request.objects.get(dialog=dialog)
    assert (request.reason, request.status) == (RequestReason.BOT_HANDOFF, RequestStatus.PENDING)
    assert response.json()["request"]["id"] == request.pk
    assert Dialog.objects.get(pk=dialog.pk).status == DialogStatus.WAITING
    assert BotAssignment.objects.get(dialog=dialog).released_at is not None
    # the bot no longer holds it: its further calls are 404, the client's messages are not sent
    assert (
        routed_bot.api.post(reply_url(dialog.session_id), {"text": "x"}, format="json").status_code
        == 404
    )
    client_writes(routed_bot.chat, "hello?")
    assert events(routed_bot.bot) == ["dialog.assigned", "message.created"]


def test_the_bot_closes_the_dialog(routed_bot):
    dialog = client_writes(routed_bot.chat, "bye").message.dialog
    response = routed_bot.api.post(reply_url(dialog.session_id, "close"), format="json")
    assert response.status_code == 200, response.content
    stored = Dialog.objects.get(pk=dialog.pk)
    assert stored.status == DialogStatus.CLOSED
    assert Message.objects.filter(dialog=dialog, author_kind=AuthorKind.SYSTEM).get().text == (
        "The chat has ended."
    )
    assert BotAssignment.objects.get(dialog=dialog).released_at is not None
    # the next message starts a new dialog, assigned afresh
    again = client_writes(routed_bot.chat, "hi again").message.dialog
    assert again.pk != dialog.pk
    assert BotAssignment.objects.get(dialog=again).released_at is None


def test_a_dialog_ended_by_the_client_is_released_and_the_bot_told(routed_bot):
    dialog = client_writes(routed_bot.chat, "hi").message.dialog
    dialog_end_by_client(dialog=Dialog.objects.select_related("chat").get(pk=dialog.pk))
    # when the sweep runs (twice: the second does nothing)
    assert api_bot_assignments_release_ended() == 1
    assert api_bot_assignments_release_ended() == 0
    # then
    assert BotAssignment.objects.get(dialog=dialog).released_at is not None
    assert events(routed_bot.bot) == ["dialog.assigned", "message.created", "dialog.closed"]
    closed = WebhookDelivery.objects.get(bot=routed_bot.bot, event="dialog.closed")
    assert closed.payload["dialog"]["session_id"] == dialog.session_id


def test_garbage_bodies_get_400_and_change_nothing(routed_bot):
    dialog = client_writes(routed_bot.chat, "hi").message.dialog
    chat = routed_bot.chat
    _key, token = integration_key([chat])
    for api, url in (
        (api_client(token), BOTS),
        (routed_bot.api, f"{BOTS}me/"),
        (routed_bot.api, reply_url(dialog.session_id)),
    ):
        method = api.patch if url.endswith("me/") else api.post
        for content, content_type in (
            ("not json", "application/json"),
            ("[1, 2]", "application/json"),
            ('"text"', "application/json"),
            ("\xff\xfe", "application/json"),
        ):
            response = method(url, content, content_type=content_type)
            assert response.status_code == 400, (url, content, response.content)
    assert ApiBot.objects.count() == 1
    assert Message.objects.filter(dialog=dialog).count() == 1
    bot = ApiBot.objects.get()
    assert (bot.name, bot.capacity) == ("Helper bot", 5)


def test_an_inactive_bot_keeps_the_dialogs_it_holds(routed_bot):
    # given a dialog the bot holds, then the bot is made inactive
    dialog = client_writes(routed_bot.chat, "hi").message.dialog
    assert (
        routed_bot.api.patch(f"{BOTS}me/", {"is_active": False}, format="json").status_code == 200
    )
    # when the client writes again, and a new client writes
    again = client_writes(routed_bot.chat, "still there?")
    newcomer = client_writes(routed_bot.chat, "hello", visitor="visitor-2")
    # then the held dialog's message still goes to the bot, the new dialog does not
    assert again.message.dialog_id == dialog.pk
    assert events(routed_bot.bot) == ["dialog.assigned", "message.created", "message.created"]
    assert not BotAssignment.objects.filter(dialog_id=newcomer.message.dialog_id).exists()
    assert (
        routed_bot.api.post(
            reply_url(dialog.session_id), {"text": "yes"}, format="json"
        ).status_code
        == 201
    )


def test_a_pressed_payload_button_reaches_the_bot_as_the_clients_message(routed_bot):
    # given the bot offered a payload button
    dialog = client_writes(routed_bot.chat, "hi").message.dialog
    posted = routed_bot.api.post(
        reply_url(dialog.session_id),
        {"text": "Pick", "buttons": [{"text": "Prices", "payload": "prices"}]},
        format="json",
    ).json()
    [button] = posted["buttons"]
    # when the client presses it (the widget and Telegram both call this), twice
    pressed = bot_button_press(dialog=dialog, button_id=button["id"], client_msg_id="press-1")
    repeat = bot_button_press(dialog=dialog, button_id=button["id"], client_msg_id="press-1")
    # then the label is the client's message, once, and the bot hears it with the payload
    assert (pressed.message.author_kind, pressed.message.text) == (AuthorKind.CLIENT, "Prices")
    assert (pressed.created, repeat.created) == (True, False)
    assert repeat.message.pk == pressed.message.pk
    last = WebhookDelivery.objects.filter(bot=routed_bot.bot).order_by("pk").last()
    assert last.event == "message.created"
    assert last.payload["message"]["text"] == "Prices"
    assert last.payload["button"] == {"text": "Prices", "payload": "prices"}
    assert events(routed_bot.bot).count("message.created") == 2


def test_a_typed_message_carries_no_button_and_an_unknown_button_is_refused(routed_bot):
    dialog = client_writes(routed_bot.chat, "hi").message.dialog
    first = WebhookDelivery.objects.filter(bot=routed_bot.bot, event="message.created").get()
    assert first.payload["button"] is None
    with pytest.raises(UnknownButton):
        bot_button_press(dialog=dialog, button_id=2**52 + 1, client_msg_id="press-x")
    assert Message.objects.filter(dialog=dialog).count() == 1
