"""The backend-group bridge end to end through the real services and the fake Bot API:
a client's topic with its pinned card, messages both ways, several operators, /close,
internal comments, a deleted topic made anew, albums, edits, keyword activation."""

from __future__ import annotations

import pytest
from django.utils import timezone

from chats.enums import AuthorKind, Messenger
from chats.models import Client, Message
from handoff.enums import CloseReason, RequestStatus
from handoff.models import Request
from handoff.services import request_accept, request_close
from telegram_bridge.models import ClientTopic, OutboundMessage, SendStatus, TopicLink
from telegram_bridge.services.group.topics import topic_name
from tests.telegram_bridge.group_updates import (
    GROUP,
    client_edit_update,
    client_media_update,
    topic_update,
)
from tests.telegram_bridge.telegram_updates import text_update
from tests.telegram_bridge.test_handoff_flow import connect_operator

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 501
OLGA = 601
PAVEL = 602
STRANGER = 699


@pytest.fixture
def world(telegram_world):
    telegram_world.bot.forum_group_id = GROUP
    telegram_world.bot.save(update_fields=["forum_group_id"])
    return telegram_world


def client_says(world, text: str, *, message_id: int | None = None) -> int:
    update_id = world.next_update_id()
    world.receive(text_update(update_id, user_id=CLIENT, text=text, message_id=message_id))
    world.settle()
    return update_id if message_id is None else message_id


def in_topic(world, thread_id, user_id, text=None, **extra) -> int:
    update_id = world.next_update_id()
    world.receive(topic_update(update_id, thread_id=thread_id, user_id=user_id, text=text, **extra))
    world.settle()
    return update_id


def open_request(world) -> tuple[Request, int]:
    client_says(world, "hello")
    client_says(world, "/human")
    request = Request.objects.get(status=RequestStatus.PENDING)
    world.api.wait_for("createForumTopic", chat_id=GROUP)
    topic = ClientTopic.objects.get()
    assert topic.message_thread_id is not None
    return request, topic.message_thread_id


def test_a_request_gets_a_topic_with_a_pinned_card_and_the_clients_messages(world):
    request, thread = open_request(world)
    created = world.api.succeeded("createForumTopic", chat_id=GROUP)
    assert [call.params["name"] for call in created] == ["Ann · Telegram"]
    card = world.api.succeeded("sendMessage", chat_id=GROUP)[0]
    assert card.params["message_thread_id"] == thread
    assert "waiting for an operator" in card.params["text"]
    assert f"/reports/dialogs/{request.dialog.session_id}/" in card.params["text"]
    assert world.api.pinned(GROUP) == [ClientTopic.objects.get().card_message_id]
    # the client's next message is copied into the topic, and the copy is linked
    message_id = client_says(world, "my order is late")
    copy = world.api.wait_for("copyMessages", chat_id=GROUP)[-1]
    assert copy.params["from_chat_id"] == CLIENT
    assert copy.params["message_ids"] == [message_id]
    assert copy.params["message_thread_id"] == thread
    link = TopicLink.objects.get(inbound=True)
    assert link.client_message_id == message_id
    assert link.group_message_id is not None
    assert link.message.text == "my order is late"


def test_the_first_reply_in_the_topic_accepts_and_several_operators_answer(world):
    olga = connect_operator(world, OLGA, "Olga")
    connect_operator(world, PAVEL, "Pavel")
    request, thread = open_request(world)
    in_topic(world, thread, OLGA, "Hello, I am Olga")
    request.refresh_from_db()
    assert request.status == RequestStatus.ACCEPTED
    assert request.operator == olga
    assert "Olga: Hello, I am Olga" in world.texts_to(CLIENT)
    card = ClientTopic.objects.get().card_text
    assert "with Olga" in card
    assert world.api.succeeded("editMessageText", chat_id=GROUP)
    # a second operator answers in the same topic under their own name
    in_topic(world, thread, PAVEL, "Pavel here too")
    assert "Pavel: Pavel here too" in world.texts_to(CLIENT)
    request.refresh_from_db()
    assert request.operator == olga
    pavel_message = Message.objects.get(text="Pavel here too")
    assert pavel_message.author_kind == AuthorKind.OPERATOR
    assert pavel_message.author_name == "Pavel"


def test_internal_comments_strangers_general_and_bots_stay_in_the_group(world):
    connect_operator(world, OLGA, "Olga")
    request, thread = open_request(world)
    before = len(world.texts_to(CLIENT))
    in_topic(world, thread, OLGA, "# check the order first")
    in_topic(world, thread, STRANGER, "I am not a manager", first_name="Sam")
    in_topic(world, None, OLGA, "in the General topic")
    in_topic(world, thread, OLGA, "a bot's message", is_bot=True)
    in_topic(world, 424242, OLGA, "a topic of no client")
    in_topic(world, thread, OLGA, "/start")
    hint = world.api.succeeded("sendMessage", chat_id=GROUP)[-1].params
    assert hint["message_thread_id"] == thread
    assert "/close ends the conversation" in hint["text"]
    assert "starting with # stays in the group" in hint["text"]
    assert len(world.texts_to(CLIENT)) == before
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert not Message.objects.filter(author_kind=AuthorKind.OPERATOR).exists()


def test_close_in_the_topic_closes_the_request_and_the_topic_and_reopens_it(world):
    connect_operator(world, OLGA, "Olga")
    request, thread = open_request(world)
    in_topic(world, thread, OLGA, "Hi")
    in_topic(world, thread, OLGA, "/close")
    request.refresh_from_db()
    assert request.status == RequestStatus.CLOSED
    assert request.close_reason == CloseReason.OPERATOR
    closed = world.api.wait_for("closeForumTopic", chat_id=GROUP)
    assert closed[0].params["message_thread_id"] == thread
    assert world.api.topics(GROUP)[thread]["closed"] is True
    rating = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert "reply_markup" in rating.params  # the feedback question with its scores
    # /close again: nothing open, the topic says so
    in_topic(world, thread, OLGA, "/close")
    assert (
        "no open conversation"
        in world.api.succeeded("sendMessage", chat_id=GROUP)[-1].params["text"]
    )
    # the client's next request reopens the same topic
    client_says(world, "/human")
    reopened = world.api.wait_for("reopenForumTopic", chat_id=GROUP)
    assert reopened[0].params["message_thread_id"] == thread
    assert len(world.api.succeeded("createForumTopic")) == 1
    assert world.api.topics(GROUP)[thread]["closed"] is False


def test_an_idle_close_closes_the_topic(world):
    request, thread = open_request(world)
    request_close(request=request, reason=CloseReason.QUEUE_TIMEOUT)
    world.settle()
    assert (
        world.api.wait_for("closeForumTopic", chat_id=GROUP)[0].params["message_thread_id"]
        == thread
    )
    assert ClientTopic.objects.get().closed_at is not None


def test_a_deleted_topic_is_made_anew_on_the_clients_next_message(world):
    request, thread = open_request(world)
    world.api.delete_topic(GROUP, thread)
    message_id = client_says(world, "are you there?")
    copies = world.api.succeeded("copyMessages", chat_id=GROUP)
    assert len(copies) == 1
    new_thread = copies[0].params["message_thread_id"]
    assert new_thread != thread
    assert copies[0].params["message_ids"] == [message_id]
    assert len(world.api.succeeded("createForumTopic")) == 2
    topic = ClientTopic.objects.get()
    assert topic.message_thread_id == new_thread
    # the card came with the new topic, pinned
    cards = [
        call
        for call in world.api.succeeded("sendMessage", chat_id=GROUP)
        if call.params.get("message_thread_id") == new_thread
    ]
    assert "waiting for an operator" in cards[0].params["text"]
    assert topic.card_message_id in world.api.pinned(GROUP)


def _album_due() -> None:
    """The album's wait is over (its other items had their chance to join)."""
    OutboundMessage.objects.filter(status=SendStatus.PENDING, not_before__isnull=False).update(
        not_before=timezone.now()
    )


def test_albums_stay_albums_both_ways(world):
    connect_operator(world, OLGA, "Olga")
    request, thread = open_request(world)
    for number in (1, 2):
        world.receive(
            client_media_update(
                world.next_update_id(),
                user_id=CLIENT,
                message_id=900 + number,
                photo=f"client-photo-{number}-AAAAAAAAAAAAAAAA",
                media_group_id="album-1",
            )
        )
    world.settle()
    assert not world.api.succeeded("copyMessages", chat_id=GROUP)  # waiting for the rest
    _album_due()
    world.settle()
    copies = world.api.succeeded("copyMessages", chat_id=GROUP)
    assert [call.params["message_ids"] for call in copies] == [[901, 902]]
    assert TopicLink.objects.filter(inbound=True, group_message_id__isnull=False).count() == 2
    # the operator's album goes to the client as one sendMediaGroup
    for number in (1, 2):
        world.receive(
            topic_update(
                world.next_update_id(),
                thread_id=thread,
                user_id=OLGA,
                text="both photos" if number == 1 else None,
                photo=f"operator-photo-{number}-AAAAAAAAAAAAAAAA",
                media_group_id="album-2",
            )
        )
    world.settle()
    _album_due()
    world.settle()
    groups = world.api.succeeded("sendMediaGroup", chat_id=CLIENT)
    assert len(groups) == 1
    media = groups[0].params["media"]
    assert [item["type"] for item in media] == ["photo", "photo"]
    assert media[0]["caption"] == "Olga: both photos"


def test_voice_and_stickers_go_both_ways(world):
    connect_operator(world, OLGA, "Olga")
    request, thread = open_request(world)
    in_topic(world, thread, OLGA, voice="operator-voice-AAAAAAAAAAAAAAAAAAAA")
    in_topic(world, thread, OLGA, sticker="operator-sticker-AAAAAAAAAAAAAAAAAA")
    voices = world.api.succeeded("sendVoice", chat_id=CLIENT)
    assert voices[0].params["voice"] == "operator-voice-AAAAAAAAAAAAAAAAAAAA"
    assert voices[0].params["caption"].startswith("Olga: ")
    stickers = world.api.succeeded("sendSticker", chat_id=CLIENT)
    assert stickers[0].params["sticker"] == "operator-sticker-AAAAAAAAAAAAAAAAAA"
    assert "Olga: 😀" in world.texts_to(CLIENT)  # who sent the sticker
    world.receive(
        client_media_update(
            world.next_update_id(),
            user_id=CLIENT,
            message_id=950,
            voice="client-voice-AAAAAAAAAAAAAAAAAAAAA",
        )
    )
    world.settle()
    assert world.api.succeeded("copyMessages", chat_id=GROUP)[-1].params["message_ids"] == [950]


def test_edits_are_made_on_the_other_side(world):
    connect_operator(world, OLGA, "Olga")
    request, thread = open_request(world)
    client_says(world, "my order is lte", message_id=800)
    link = TopicLink.objects.get(inbound=True, client_message_id=800)
    world.receive(
        client_edit_update(
            world.next_update_id(), user_id=CLIENT, message_id=800, text="my order is late"
        )
    )
    world.settle()
    edit = world.api.succeeded("editMessageText", chat_id=GROUP, message_id=link.group_message_id)
    assert edit[-1].params["text"] == "my order is late"
    assert Message.objects.get(pk=link.message_id).text == "my order is late"
    # the operator edits their reply: the client's copy is edited
    in_topic(world, thread, OLGA, "Helo", message_id=7001)
    sent = world.api.succeeded("sendMessage", chat_id=CLIENT)[-1]
    assert sent.params["text"] == "Olga: Helo"
    world.receive(
        topic_update(
            world.next_update_id(),
            thread_id=thread,
            user_id=OLGA,
            text="Hello",
            message_id=7001,
            edited=True,
        )
    )
    world.settle()
    client_edits = world.api.succeeded("editMessageText", chat_id=CLIENT)
    assert client_edits[-1].params["text"] == "Olga: Hello"
    assert Message.objects.filter(text="Hello", author_name="Olga").exists()
    # an edit of something never relayed changes nothing
    world.receive(
        client_edit_update(world.next_update_id(), user_id=CLIENT, message_id=12345, text="x")
    )
    world.settle()
    assert not world.api.succeeded("editMessageText", text="x")


def test_a_refused_accept_is_told_in_the_topic_and_nothing_reaches_the_client(world):
    olga = connect_operator(world, OLGA, "Olga")
    olga.max_simultaneous_dialogs = 0
    olga.save()
    request, thread = open_request(world)
    before = len(world.texts_to(CLIENT))
    in_topic(world, thread, OLGA, "Hi")
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert len(world.texts_to(CLIENT)) == before
    assert (
        world.api.succeeded("sendMessage", chat_id=GROUP)[-1].params["text"].startswith("Not sent:")
    )


def test_an_accept_elsewhere_wins_and_the_topic_co_answers(world):
    olga = connect_operator(world, OLGA, "Olga")
    pavel = connect_operator(world, PAVEL, "Pavel")
    request, thread = open_request(world)
    request_accept(request=request.pk, operator=pavel)  # from the console
    world.settle()
    assert "with Pavel" in ClientTopic.objects.get().card_text
    in_topic(world, thread, OLGA, "Olga adds a detail")
    request.refresh_from_db()
    assert request.operator == pavel
    assert "Olga: Olga adds a detail" in world.texts_to(CLIENT)
    assert olga.pk != pavel.pk


def test_keyword_activation(world):
    world.bot.keywords_required = True
    world.bot.save(update_fields=["keywords_required"])
    client_says(world, "hello")
    client_says(world, "this is helpful")  # not the whole word
    assert not world.api.succeeded("createForumTopic")
    assert not Request.objects.exists()
    message_id = client_says(world, "I need HELP please")
    request = Request.objects.get()
    assert request.is_open
    world.api.wait_for("createForumTopic", chat_id=GROUP)
    assert world.api.succeeded("copyMessages", chat_id=GROUP)[-1].params["message_ids"] == [
        message_id
    ]
    assert ClientTopic.objects.get().activated_at is not None


def test_keyword_activation_shows_a_request_opened_before(world):
    world.bot.keywords_required = True
    world.bot.activation_keywords = "manager, /chat"
    world.bot.save(update_fields=["keywords_required", "activation_keywords"])
    client_says(world, "/human")
    assert Request.objects.get().is_open
    client_says(world, "hello")
    assert not world.api.succeeded("createForumTopic")
    client_says(world, "/chat")
    world.api.wait_for("createForumTopic", chat_id=GROUP)
    client_says(world, "anyone?")
    assert world.api.succeeded("copyMessages", chat_id=GROUP)


def test_a_web_visitors_messages_are_retold_in_their_topic(world):
    from chats.services import dialog_receive_client_message, dialog_start_or_resume
    from handoff.services import request_open

    dialog, _created = dialog_start_or_resume(
        chat=world.bot.chat, messenger=Messenger.WEB, external_id="visitor-1", name="Vera"
    )
    request_open(dialog=dialog, reason="headset")
    dialog_receive_client_message(dialog=dialog, text="<b>hi</b> from the web", client_msg_id="w1")
    world.settle()
    world.api.wait_for("createForumTopic", chat_id=GROUP)
    assert world.api.succeeded("createForumTopic")[0].params["name"] == "Vera · Web"
    told = world.api.succeeded("sendMessage", chat_id=GROUP)[-1]
    assert told.params["text"] == "Vera: <b>hi</b> from the web"
    assert "parse_mode" not in told.params


@pytest.mark.parametrize(
    "name",
    [
        "A" * 200,
        "👩‍👩‍👧‍👦" * 28,
        "e\u0301" * 100,
        "",
    ],
)
def test_topic_names_fit_telegrams_limit_and_are_never_cut_mid_character(name, world):
    client = Client.objects.create(
        chat=world.bot.chat, messenger=Messenger.TELEGRAM, external_id="77", name=name
    )
    made = topic_name(client)
    assert len(made.encode("utf-16-le")) // 2 <= 128
    assert made.endswith(" · Telegram")
    assert not made.split(" · ")[0].endswith(("\u200d", "\u0301"))
    if not name:
        assert made == "telegram 77 · Telegram"


def test_without_a_forum_group_nothing_goes_to_a_group(telegram_world):
    world = telegram_world
    client_says(world, "hello")
    client_says(world, "/human")
    client_says(world, "more")
    assert not world.api.succeeded("createForumTopic")
    assert not world.api.succeeded("copyMessages")
    assert not ClientTopic.objects.exists()


def test_a_group_that_refuses_topics_is_shown_in_admin_and_cleared_when_it_works(world):
    world.api.fail_bad_request(
        "createForumTopic", "Bad Request: not enough rights to create a topic"
    )
    client_says(world, "/human")
    world.bot.refresh_from_db()
    assert "not enough rights" in world.bot.forum_group_error.lower()
    client_says(world, "/end")
    client_says(world, "/human")
    world.bot.refresh_from_db()
    assert world.bot.forum_group_error == ""
    assert world.api.succeeded("createForumTopic")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"forum_group_id": "-42"}, "forum_group_id"),
        ({"forum_group_id": "12345"}, "forum_group_id"),
        ({"keywords_required": "on", "activation_keywords": " , "}, "activation_keywords"),
        ({"activation_keywords": "x" * 65}, "activation_keywords"),
    ],
)
def test_admin_refuses_bad_bridge_settings_and_changes_nothing(changes, field, telegram_world):
    from telegram_bridge.admin import TelegramBotForm

    bot = telegram_world.bot
    data = {
        "chat": bot.chat_id,
        "token": "",
        "internal_prefix": "#",
        "activation_keywords": "operator, help",
        "copy_parallel_bot": "on",
        **changes,
    }
    form = TelegramBotForm(data=data, instance=bot)
    assert not form.is_valid()
    assert field in form.errors
    bot.refresh_from_db()
    assert bot.forum_group_id is None
    assert bot.activation_keywords == "operator, help, /help, /chat"


def test_admin_saves_good_bridge_settings(telegram_world):
    from telegram_bridge.admin import TelegramBotForm

    bot = telegram_world.bot
    form = TelegramBotForm(
        data={
            "chat": bot.chat_id,
            "token": "",
            "forum_group_id": str(GROUP),
            "internal_prefix": "  // ",
            "keywords_required": "on",
            "activation_keywords": " Operator ,help,, /chat ",
        },
        instance=bot,
    )
    assert form.is_valid(), form.errors
    form.save()
    bot.refresh_from_db()
    assert bot.forum_group_id == GROUP
    assert bot.internal_prefix == "//"
    assert bot.activation_keywords == "Operator, help, /chat"
    assert bot.copy_parallel_bot is False  # an unticked box


def test_a_renamed_client_gets_the_topic_renamed(world):
    from chats.services import client_rename

    request, thread = open_request(world)
    client_says(world, "/end")
    client_rename(client=request.dialog.client, name="Ann Smith")
    client_says(world, "/human")
    renamed = world.api.wait_for("editForumTopic", chat_id=GROUP)
    assert renamed[0].params == {
        "chat_id": GROUP,
        "message_thread_id": thread,
        "name": "Ann Smith · Telegram",
    }
    assert world.api.topics(GROUP)[thread]["name"] == "Ann Smith · Telegram"
    assert ClientTopic.objects.get().name == "Ann Smith · Telegram"


def test_the_bots_admin_page_shows_the_bridge_settings_and_a_topic_error(
    admin_client, telegram_world
):
    from django.urls import reverse

    bot = telegram_world.bot
    bot.forum_group_id = GROUP
    bot.forum_group_error = "Bad Request: <not enough rights> to create a topic"
    bot.save()
    page = admin_client.get(reverse("admin:telegram_bridge_telegrambot_change", args=[bot.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for field in ("forum_group_id", "internal_prefix", "keywords_required", "activation_keywords"):
        assert f'name="{field}"' in html
    assert "&lt;not enough rights&gt;" in html  # shown, escaped
    assert "<not enough rights>" not in html
    assert f"/telegram/proxy/{bot.webhook_key}/bot</code>" in html  # for the parallel bot
    assert f"/telegram/proxy/{bot.webhook_key}/file/bot</code>" in html
    assert 'name="copy_parallel_bot"' in html
    assert bot.token not in html


def test_what_the_parallel_bot_sends_a_client_is_copied_into_their_topic(world):
    from telegram_bridge.services.group import parallel_messages_copy

    request, thread = open_request(world)
    assert parallel_messages_copy(bot=world.bot, chat_id=CLIENT, message_ids=[4001, 4002])
    world.settle()
    copy = world.api.succeeded("copyMessages", chat_id=GROUP)[-1]
    assert copy.params["from_chat_id"] == CLIENT
    assert copy.params["message_ids"] == [4001, 4002]
    assert copy.params["message_thread_id"] == thread
    # switched off, or a chat with no open topic: nothing
    world.bot.copy_parallel_bot = False
    assert not parallel_messages_copy(bot=world.bot, chat_id=CLIENT, message_ids=[4003])
    world.bot.copy_parallel_bot = True
    assert not parallel_messages_copy(bot=world.bot, chat_id=777, message_ids=[4004])
    assert not parallel_messages_copy(bot=world.bot, chat_id=GROUP, message_ids=[4005])


def test_a_topic_made_anew_gets_its_card_even_after_a_429_on_it(world):
    request, thread = open_request(world)
    world.api.delete_topic(GROUP, thread)
    world.api.fail_flood("sendMessage", retry_after=1, chat_id=GROUP)
    client_says(world, "still there?")
    assert not world.api.succeeded("copyMessages")  # waits for the retry_after
    OutboundMessage.objects.filter(status=SendStatus.PENDING).update(not_before=timezone.now())
    world.settle()
    new_thread = ClientTopic.objects.get().message_thread_id
    assert new_thread != thread
    in_new = [
        call for call in world.api.succeeded() if call.params.get("message_thread_id") == new_thread
    ]
    assert [call.method for call in in_new] == ["sendMessage", "copyMessages"]
    assert "waiting for an operator" in in_new[0].params["text"]
    assert len(world.api.succeeded("createForumTopic")) == 2  # not made a third time


def test_a_private_operator_gets_a_clients_sticker_after_who_sent_it(world):
    from telegram_bridge.models import OperatorAccount
    from telegram_bridge.services.operators import operator_accept

    world.bot.forum_group_id = None
    world.bot.save(update_fields=["forum_group_id"])
    connect_operator(world, OLGA, "Olga")
    client_says(world, "/human")
    request = Request.objects.get()
    operator_accept(account=OperatorAccount.objects.get(), request_id=request.pk)
    world.settle()
    world.receive(
        client_media_update(
            world.next_update_id(), user_id=CLIENT, sticker="client-sticker-AAAAAAAAAAAAAAAAAAAA"
        )
    )
    world.settle()
    to_olga = [
        call.method
        for call in world.api.succeeded()
        if call.params.get("chat_id") == OLGA and call.method in ("sendMessage", "sendSticker")
    ]
    assert to_olga[-2:] == ["sendMessage", "sendSticker"]
    assert world.texts_to(OLGA)[-1].endswith(": 😀")


def test_admin_lists_client_topics_and_shows_one_escaped(admin_client, world):
    from django.urls import reverse

    request, thread = open_request(world)
    topic = ClientTopic.objects.get()
    ClientTopic.objects.filter(pk=topic.pk).update(
        name="<script>alert(1)</script> · Telegram", card_text="<b>card</b>"
    )
    listing = admin_client.get(reverse("admin:telegram_bridge_clienttopic_changelist"))
    assert listing.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing.content.decode()
    assert "<script>alert(1)" not in listing.content.decode()
    page = admin_client.get(reverse("admin:telegram_bridge_clienttopic_change", args=[topic.pk]))
    assert page.status_code == 200
    assert "&lt;b&gt;card&lt;/b&gt;" in page.content.decode()
    assert str(thread) in page.content.decode()


def test_the_parallel_bots_messages_wait_for_the_keyword_too(world):
    from telegram_bridge.services.group import parallel_messages_copy

    world.bot.keywords_required = True
    world.bot.save(update_fields=["keywords_required"])
    client_says(world, "/human")  # a request, but no keyword yet
    assert not parallel_messages_copy(bot=world.bot, chat_id=CLIENT, message_ids=[4001])
    world.settle()
    assert not world.api.succeeded("createForumTopic")
    client_says(world, "operator please")
    assert parallel_messages_copy(bot=world.bot, chat_id=CLIENT, message_ids=[4002])
    world.settle()
    assert world.api.succeeded("copyMessages", chat_id=GROUP)[-1].params["message_ids"] == [4002]
