"""Review of the backend-group bridge (issue 12 points 1, 2, 5): regression tests for
what a hostile group member or a demanding user found wrong."""

from __future__ import annotations

import pytest

from chats.models import Message
from handoff.enums import RequestStatus
from handoff.models import Request
from telegram_bridge.models import ClientTopic, OutboundMessage, SendStatus
from tests.telegram_bridge.group_updates import GROUP
from tests.telegram_bridge.test_group_bridge import (
    CLIENT,
    OLGA,
    PAVEL,
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
