"""Review of the backend-group bridge (issue 12 points 1, 2, 5): regression tests for
what a hostile group member or a demanding user found wrong."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chats.models import Dialog, Message
from handoff.enums import RequestStatus
from handoff.models import Request
from telegram_bridge.models import (
    ClientTopic,
    OperatorAccount,
    OutboundMessage,
    SendStatus,
    TopicLink,
)
from tests.telegram_bridge.group_updates import GROUP, client_edit_update, topic_update
from tests.telegram_bridge.telegram_updates import text_update
from tests.telegram_bridge.test_group_bridge import (
    CLIENT,
    OLGA,
    PAVEL,
    _album_due,
    client_says,
    in_topic,
    open_request,
)
from tests.telegram_bridge.test_handoff_flow import connect_operator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(telegram_world):
    telegram_world.bot.forum_group_id = GROUP
    telegram_world.bot.save(update_fields=["forum_group_id"])
    return telegram_world


def test_a_manager_who_no_longer_serves_the_chat_cannot_answer_in_a_topic(world):
    """Pavel was connected to the bot, then taken off the chat in Admin. The console
    would not show him its requests; the topic let him write to its client (a
    co-answer) anyway."""
    olga = connect_operator(world, OLGA, "Olga")
    pavel = connect_operator(world, PAVEL, "Pavel")
    pavel.chats.remove(world.bot.chat)
    request, thread = open_request(world)
    in_topic(world, thread, OLGA, "Hello, I am Olga")
    request.refresh_from_db()
    assert request.operator == olga
    in_topic(world, thread, PAVEL, "Pavel sneaks in")
    assert not any("Pavel sneaks in" in text for text in world.texts_to(CLIENT))
    assert not Message.objects.filter(text="Pavel sneaks in").exists()
    told = world.api.succeeded("sendMessage", chat_id=GROUP)[-1].params
    assert told["message_thread_id"] == thread
    assert told["text"].startswith("Not sent:")
    request.refresh_from_db()
    assert request.status == RequestStatus.ACCEPTED


def test_a_manager_who_does_not_serve_the_chat_cannot_close_a_waiting_request(world):
    """/close of a request nobody holds: request_close lets any actor close it, so the
    topic must ask whether the manager serves the chat (the console does)."""
    connect_operator(world, OLGA, "Olga")
    pavel = connect_operator(world, PAVEL, "Pavel")
    pavel.chats.remove(world.bot.chat)
    request, thread = open_request(world)
    in_topic(world, thread, PAVEL, "/close")
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    told = world.api.succeeded("sendMessage", chat_id=GROUP)[-1].params
    assert told["text"].startswith("Not closed:")
    assert not world.api.succeeded("closeForumTopic")


def test_closing_a_deleted_topic_is_no_forum_group_error(world):
    """Someone deletes the client's topic; the request then ends (idle, /end): the
    closeForumTopic answered "thread not found" was recorded as the group's error in
    Admin though nothing is wrong with the group, and the next message makes the topic
    anew as usual."""
    request, thread = open_request(world)
    world.api.delete_topic(GROUP, thread)
    client_says(world, "/end")
    request.refresh_from_db()
    assert request.status == RequestStatus.CLOSED
    world.bot.refresh_from_db()
    assert world.bot.forum_group_error == ""
    assert not OutboundMessage.objects.filter(status=SendStatus.FAILED).exists()
    client_says(world, "/human")
    assert len(world.api.succeeded("createForumTopic", chat_id=GROUP)) == 2
    assert ClientTopic.objects.get().message_thread_id != thread
    world.bot.refresh_from_db()
    assert world.bot.forum_group_error == ""
    assert Request.objects.filter(status=RequestStatus.PENDING).exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite takes no row locks (no FOR UPDATE)"
)
def test_a_keyword_locks_the_dialog_and_the_request_before_the_topic(world):
    """handoff's lock order is dialog -> request, and the topic after them (an accept
    locks the topic in its request_changed). The keyword that shows an open request to
    the group locked the topic first and the dialog after: with an accept of the same
    request at that moment, each waited for the other (a deadlock)."""
    world.bot.keywords_required = True
    world.bot.activation_keywords = "manager, /chat"
    world.bot.save(update_fields=["keywords_required", "activation_keywords"])
    client_says(world, "/human")  # a request open before the keyword (not in the group)
    request = Request.objects.get()
    assert request.is_open
    world.receive(text_update(world.next_update_id(), user_id=CLIENT, text="/chat"))
    with CaptureQueriesContext(connection) as queries:
        world.settle()
    locks = [query["sql"] for query in queries.captured_queries if "FOR UPDATE" in query["sql"]]

    def first_lock(model) -> int:
        table = f'FROM "{model._meta.db_table}"'
        return next(index for index, sql in enumerate(locks) if table in sql)

    assert first_lock(Dialog) < first_lock(ClientTopic)
    assert first_lock(Request) < first_lock(ClientTopic)
    world.api.wait_for("createForumTopic", chat_id=GROUP)
    assert ClientTopic.objects.get().request_id == request.pk


def test_a_disconnected_manager_cannot_edit_their_old_replies_to_the_client(world):
    """Telegram lets the author edit a message for 48 hours. A manager switched off in
    Admin (or no longer serving the chat) is not heard in the topic any more, but their
    edit of an earlier reply still rewrote the client's copy and the stored message."""

    connect_operator(world, OLGA, "Olga")
    request, thread = open_request(world)
    in_topic(world, thread, OLGA, "Your order ships tomorrow", message_id=7101)
    assert "Olga: Your order ships tomorrow" in world.texts_to(CLIENT)
    OperatorAccount.objects.filter(telegram_user_id=OLGA).update(active=False)
    world.receive(
        topic_update(
            world.next_update_id(),
            thread_id=thread,
            user_id=OLGA,
            text="pay at evil.example",
            message_id=7101,
            edited=True,
        )
    )
    world.settle()
    assert not world.api.succeeded("editMessageText", chat_id=CLIENT)
    assert not Message.objects.filter(text="pay at evil.example").exists()
    assert Message.objects.filter(text="Your order ships tomorrow").exists()


def test_a_gif_from_a_topic_reaches_the_client_once(world):
    """Telegram sends a GIF with both `animation` and `document` set ("for backward
    compatibility"); each became an attachment, so the client got the GIF twice (a
    sendDocument and a sendAnimation) and the stored message carried two files."""

    connect_operator(world, OLGA, "Olga")
    request, thread = open_request(world)
    update = topic_update(world.next_update_id(), thread_id=thread, user_id=OLGA, text=None)
    gif = {
        "file_id": "operator-gif-AAAAAAAAAAAAAAAAAAAAA",
        "file_unique_id": "gif-1",
        "file_name": "funny.gif.mp4",
        "mime_type": "video/mp4",
    }
    update["message"]["animation"] = {**gif, "width": 200, "height": 200, "duration": 2}
    update["message"]["document"] = dict(gif)
    update["message"]["caption"] = "look"
    world.receive(update)
    world.settle()
    sends = [
        call.method
        for call in world.api.succeeded()
        if call.params.get("chat_id") == CLIENT and call.method in ("sendDocument", "sendAnimation")
    ]
    assert sends == ["sendAnimation"]
    reply = Message.objects.get(text="look")
    assert len(reply.attachments) == 1
    assert reply.attachments[0]["telegram_type"] == "animation"


def test_an_internal_album_stays_in_the_group_whole(world):
    """An album's caption is on its first item only. An operator who shares two
    screenshots in the topic as an internal comment ("# ...") kept the first one in the
    group, but the second (no caption, so no prefix) went to the client."""

    connect_operator(world, OLGA, "Olga")
    request, thread = open_request(world)
    in_topic(world, thread, OLGA, "Hello")  # accepts: later replies would go out
    before = len(world.api.succeeded(chat_id=CLIENT))
    for number in (1, 2):
        world.receive(
            topic_update(
                world.next_update_id(),
                thread_id=thread,
                user_id=OLGA,
                text="# his account, for Pavel" if number == 1 else None,
                photo=f"internal-shot-{number}-AAAAAAAAAAAAAAAA",
                media_group_id="internal-album",
            )
        )
    world.settle()
    _album_due()
    world.settle()
    assert len(world.api.succeeded(chat_id=CLIENT)) == before
    assert list(Message.objects.filter(author_kind="operator").values_list("text", flat=True)) == [
        "Hello"
    ]
    # a relayed album still goes out whole
    for number in (1, 2):
        world.receive(
            topic_update(
                world.next_update_id(),
                thread_id=thread,
                user_id=OLGA,
                text="your receipts" if number == 1 else None,
                photo=f"receipt-{number}-AAAAAAAAAAAAAAAA",
                media_group_id="client-album",
            )
        )
    world.settle()
    _album_due()
    world.settle()
    albums = world.api.succeeded("sendMediaGroup", chat_id=CLIENT)
    assert len(albums) == 1
    assert [item["media"] for item in albums[0].params["media"]] == [
        "receipt-1-AAAAAAAAAAAAAAAA",
        "receipt-2-AAAAAAAAAAAAAAAA",
    ]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite keeps a thread's connection by design"
)
def test_the_senders_topic_records_give_their_connection_back(world):
    """The sender records a made topic and the copies' ids from threads of its event
    loop (asyncio.to_thread). Those threads took a pooled PostgreSQL connection each and
    never gave it back: after enough of them the pool ran dry and every later database
    call waited 30 s and failed ("couldn't get a connection"): the group suite's topic
    sends failed so after about thirty tests. _broadcast_claim, run the same way, gives
    its connection back; so do these now."""
    from telegram_bridge.services.outbox import topics

    request, thread = open_request(world)
    topic = ClientTopic.objects.get()
    client_says(world, "hi")
    link = TopicLink.objects.get(inbound=True, message__text="hi")
    held: list[bool] = []

    def record(call, *args) -> None:
        call(*args)
        held.append(connection.connection is not None)

    for call, args in (
        (topics._topic_made, (topic.pk, thread, topic.card_message_id)),
        (topics._links_record, ([link.pk], [link.group_message_id])),
    ):
        worker = threading.Thread(target=record, args=(call, *args))
        worker.start()
        worker.join()
    assert held == [False, False]


def test_a_new_forum_group_gets_the_open_conversation_at_the_clients_next_message(world):
    """The admin moves the bridge to another forum group while a client's request is
    open: the client's next messages were dropped (the topic was of the old group) until
    the request changed state, so the new group saw nothing of the conversation."""
    request, thread = open_request(world)
    new_group = -1001111111111
    world.bot.forum_group_id = new_group
    world.bot.save(update_fields=["forum_group_id"])
    message_id = client_says(world, "still waiting", message_id=880)
    created = world.api.succeeded("createForumTopic", chat_id=new_group)
    assert len(created) == 1
    copies = world.api.succeeded("copyMessages", chat_id=new_group)
    assert [call.params["message_ids"] for call in copies] == [[message_id]]
    topic = ClientTopic.objects.get()
    assert topic.group_id == new_group
    assert copies[0].params["message_thread_id"] == topic.message_thread_id
    card = world.api.succeeded("sendMessage", chat_id=new_group)[0]
    assert "waiting for an operator" in card.params["text"]


def test_an_edit_telegram_refuses_is_no_forum_group_error(world):
    """A client edits a message whose copy is gone (someone deleted it in the topic, or
    the topic was made anew): Telegram answers "message to edit not found". That is no
    fault of the group's, yet the bot's page showed it as the forum group's error (the
    field the docs reserve for a group refusing topics: no rights, not a forum)."""
    request, thread = open_request(world)
    client_says(world, "my order is lte", message_id=810)
    world.api.fail_bad_request(
        "editMessageText", "Bad Request: message to edit not found", chat_id=GROUP
    )
    world.receive(
        client_edit_update(
            world.next_update_id(), user_id=CLIENT, message_id=810, text="my order is late"
        )
    )
    world.settle()
    failed = OutboundMessage.objects.get(status=SendStatus.FAILED)
    assert failed.method == "editMessageText"
    assert "not found" in failed.error
    world.bot.refresh_from_db()
    assert world.bot.forum_group_error == ""


def test_an_operators_album_carries_only_the_caption_they_wrote(world):
    """An album's caption is on its first item; the others have none, so they were
    given the placeholder text "📷" and reached the client captioned "Olga: 📷" each,
    around (and, in Telegram's album view, instead of) the one caption written."""
    connect_operator(world, OLGA, "Olga")
    request, thread = open_request(world)
    for number in (1, 2, 3):
        world.receive(
            topic_update(
                world.next_update_id(),
                thread_id=thread,
                user_id=OLGA,
                text="three photos" if number == 1 else None,
                photo=f"operator-photo-{number}-AAAAAAAAAAAAAAAA",
                media_group_id="album-3",
            )
        )
    world.settle()
    _album_due()
    world.settle()
    media = world.api.succeeded("sendMediaGroup", chat_id=CLIENT)[0].params["media"]
    assert [item.get("caption") for item in media] == ["Olga: three photos", None, None]
    # and the album's row is recorded as sent (the fake answered what PTB cannot read)
    assert OutboundMessage.objects.get(method="sendMediaGroup").status == SendStatus.SENT


def test_admin_refuses_an_internal_prefix_that_swallows_close(world):
    """With the internal prefix "/", every command in a topic is an internal comment:
    /close never closed anything, silently. Admin refuses it and changes nothing."""
    from telegram_bridge.admin import TelegramBotForm

    bot = world.bot
    form = TelegramBotForm(
        data={
            "chat": bot.chat_id,
            "token": "",
            "forum_group_id": str(GROUP),
            "internal_prefix": " / ",
            "activation_keywords": "operator",
        },
        instance=bot,
    )
    assert not form.is_valid()
    assert "internal_prefix" in form.errors
    bot.refresh_from_db()
    assert bot.internal_prefix == "#"
