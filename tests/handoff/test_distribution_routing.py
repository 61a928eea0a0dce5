"""Routing per chat and channel: a channel routed to managers is not greeted or answered
by the chat's scripts and the client's message opens a request (reason routing); one
routed to an API bot is not answered by the scripts either; the route is read from the
process's copy without a query on the message path, and a changed rule reaches the
next message at once."""

import pytest

from chats.enums import AuthorKind, DialogStatus, ScriptKind
from chats.models import Dialog, Message
from chats.services import dialog_receive_client_message, dialog_start_or_resume
from distributor.enums import Presence, RouteTarget
from distributor.models import ApiBot, RoutingRule
from distributor.selectors import route_for
from distributor.services import api_key_create, chat_distribution_for
from handoff.enums import RequestReason, RequestStatus
from handoff.models import Request
from tests.chats.factories import ChatFactory, DialogFactory, ScriptFactory, StepFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat():
    chat = ChatFactory()
    start = ScriptFactory(chat=chat, name="Start", kind=ScriptKind.START)
    StepFactory(script=start, text="Hello, I am the bot.")
    fallback = ScriptFactory(chat=chat, name="Fallback", kind=ScriptKind.FALLBACK)
    StepFactory(script=fallback, text="Sorry?")
    return chat


def route(chat, messenger="web", **fields) -> RoutingRule:
    return RoutingRule.objects.create(
        distribution=chat_distribution_for(chat), messenger=messenger, **fields
    )


def api_bot(chat) -> ApiBot:
    key, _token = api_key_create(name="bot", scopes=[], chats=[chat])
    return ApiBot.objects.create(
        name="Helper", api_key=key, webhook_url="https://bot.example.com/hook", signing_secret="s"
    )


def bot_texts(dialog) -> list[str]:
    return list(
        Message.objects.filter(dialog=dialog, author_kind=AuthorKind.BOT)
        .order_by("sequence")
        .values_list("text", flat=True)
    )


def start(chat, messenger="web", external_id="v1"):
    dialog, _created = dialog_start_or_resume(
        chat=chat, messenger=messenger, external_id=external_id
    )
    return dialog


def test_a_channel_routed_to_managers_is_not_greeted(chat):
    route(chat, target=RouteTarget.MANAGERS)
    assert bot_texts(start(chat)) == []


def test_the_clients_message_on_a_channel_routed_to_managers_opens_a_request(chat):
    route(chat, target=RouteTarget.MANAGERS)
    OperatorFactory(chats=[chat], presence=Presence.ONLINE)
    dialog = start(chat)
    # when
    result = dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="m1")
    # then
    assert result.answers == []
    request = Request.objects.get(dialog=dialog)
    assert (request.status, request.reason) == (RequestStatus.PENDING, RequestReason.ROUTING)
    assert Dialog.objects.get(pk=dialog.pk).status == DialogStatus.WAITING
    reply = chat_distribution_for(chat).reply_received
    assert Message.objects.filter(dialog=dialog).order_by("sequence").last().text == reply
    assert bot_texts(dialog) == []


def test_further_messages_go_to_the_open_request_without_another(chat):
    route(chat, target=RouteTarget.MANAGERS)
    dialog = start(chat)
    dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="m1")
    dialog_receive_client_message(dialog=dialog, text="anyone?", client_msg_id="m2")
    assert Request.objects.filter(dialog=dialog).count() == 1
    assert bot_texts(dialog) == []


def test_a_repeated_message_opens_nothing_twice(chat):
    route(chat, target=RouteTarget.MANAGERS)
    dialog = start(chat)
    dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="m1")
    Request.objects.filter(dialog=dialog).update(status=RequestStatus.CLOSED)
    Dialog.objects.filter(pk=dialog.pk).update(status=DialogStatus.BOT)
    dialog.status = DialogStatus.BOT
    dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="m1")
    assert Request.objects.filter(dialog=dialog).count() == 1


def test_only_the_routed_channel_changes(chat):
    route(chat, messenger="telegram", target=RouteTarget.MANAGERS)
    dialog = start(chat, messenger="web")
    dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="m1")
    assert bot_texts(dialog) == ["Hello, I am the bot.", "Sorry?"]
    assert not Request.objects.filter(dialog=dialog).exists()


def test_a_rule_to_the_chats_own_scripts_changes_nothing(chat):
    route(chat, target=RouteTarget.BOT)
    dialog = start(chat)
    dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="m1")
    assert bot_texts(dialog) == ["Hello, I am the bot.", "Sorry?"]


def test_a_channel_routed_to_an_api_bot_is_not_answered_by_the_scripts(chat):
    route(chat, target=RouteTarget.BOT, api_bot=api_bot(chat))
    dialog = start(chat)
    result = dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="m1")
    assert (bot_texts(dialog), result.answers) == ([], [])
    assert not Request.objects.filter(dialog=dialog).exists()
    assert Dialog.objects.get(pk=dialog.pk).status == DialogStatus.BOT


def test_a_rule_made_after_the_route_was_cached_reaches_the_next_message(chat):
    dialog = start(chat)
    dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="m1")  # cached
    # when
    route(chat, target=RouteTarget.MANAGERS)
    dialog_receive_client_message(dialog=dialog, text="again", client_msg_id="m2")
    # then
    assert bot_texts(dialog) == ["Hello, I am the bot.", "Sorry?"]
    assert Request.objects.get(dialog=dialog).reason == RequestReason.ROUTING


def test_a_rule_changed_or_deleted_reaches_the_next_message(chat):
    rule = route(chat, target=RouteTarget.MANAGERS)
    dialog = start(chat)
    assert not route_for(chat_id=chat.pk, messenger="web").scripts_answer
    # when: changed to the scripts
    rule.target = RouteTarget.BOT
    rule.save()
    dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="m1")
    assert bot_texts(dialog) == ["Sorry?"]
    # when: changed back, then deleted
    rule.target = RouteTarget.MANAGERS
    rule.save()
    assert not route_for(chat_id=chat.pk, messenger="web").scripts_answer
    rule.delete()
    dialog_receive_client_message(dialog=dialog, text="hi again", client_msg_id="m2")
    assert bot_texts(dialog) == ["Sorry?", "Sorry?"]


def test_a_bot_answered_message_costs_no_statement_for_the_route(chat, django_assert_num_queries):
    # given a chat with a rule (for another channel) and a dialog the bot has, warmed
    route(chat, messenger="telegram", target=RouteTarget.MANAGERS)
    dialog = DialogFactory(client__chat=chat)
    dialog_receive_client_message(dialog=dialog, text="warm", client_msg_id="w")
    # then as tests/chats/test_message_statements.py counts it: BEGIN, the client's
    # UPDATE...RETURNING + INSERT, the fallback counter, the bot's UPDATE + INSERT, COMMIT
    with django_assert_num_queries(7):
        result = dialog_receive_client_message(dialog=dialog, text="what?", client_msg_id="c1")
    assert [answer.text for answer in result.answers] == ["Sorry?"]
