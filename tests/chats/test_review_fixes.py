"""Regression tests for the code review of issue 8 (chats)."""

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from chats.enums import AuthorKind
from chats.models import Dialog
from chats.services import message_post
from chats.validators import validate_encodable, value_has_lone_surrogate
from chats.visitor_tokens import visitor_token_issue
from handoff.models import Request
from tests.chats.factories import DialogFactory
from tests.chats.test_consumers import (
    chat,  # noqa: F401 - fixture
    hello,
    open_socket,
    receive_until,
)

# --- review item 8: the widget asks the service, not its in-memory dialog ----------


@pytest.mark.django_db(transaction=True)
async def test_handoff_opens_the_request_when_only_the_database_knows_the_headset_is_shown(chat):  # noqa: F811
    chat.headset_mode = "trigger"
    await sync_to_async(chat.save)()
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)  # greeting
    # the trigger revealed the headset, and its event never reached this socket
    await sync_to_async(Dialog.objects.update)(headset_revealed=True)
    # when
    await communicator.send_json_to({"type": "handoff"})
    frames = await receive_until(communicator, lambda frame: frame["type"] in ("status", "error"))
    # then
    assert frames[-1] == {"type": "status", "status": "waiting"}
    request = await sync_to_async(Request.objects.get)()
    assert (request.status, request.reason) == ("pending", "trigger")
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_handoff_in_a_chat_that_hides_the_headset_is_refused_as_before(chat):  # noqa: F811
    chat.headset_mode = "trigger"
    await sync_to_async(chat.save)()
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)  # greeting
    # when
    await communicator.send_json_to({"type": "handoff"})
    error = await communicator.receive_json_from(timeout=5)
    # then
    assert (error["type"], error["code"], error["detail"]) == (
        "error",
        "handoff_unavailable",
        "This chat does not connect you to a person now.",
    )
    assert await sync_to_async(Request.objects.count)() == 0
    assert (await sync_to_async(Dialog.objects.get)()).status == "bot"
    await communicator.disconnect()


# --- review item 9: one iterative walk for lone surrogates ------------------------------


def nested(depth: int, leaf: object) -> list:
    value = leaf
    for _level in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", False),
        ("a\ud800b", True),
        ("a\U0001f600b", False),  # a whole pair is one character
        ({"ok": ["fine", {"also": "fine"}]}, False),
        ({"ok": ["fine", {"deep": "x\udc00"}]}, True),
        ({"key\ud800": "value"}, True),  # keys count too
        (("tuple", "x\ud800"), True),
        ({"number": 1, "none": None, "flag": True}, False),
        (nested(100_000, "x\ud800"), True),  # far deeper than Python's recursion limit
        (nested(100_000, "fine"), False),
    ],
)
def test_value_has_lone_surrogate_walks_strings_keys_and_any_depth(value, expected):
    assert value_has_lone_surrogate(value) is expected


def test_content_check_refuses_a_deeply_nested_lone_surrogate_as_unencodable():
    with pytest.raises(ValidationError) as refusal:
        validate_encodable([{"attachments": nested(5_000, {"name": "x\ud800"})}])
    assert refusal.value.code == "unencodable"


# --- review: the admin links only our own paths and web addresses ---------------------


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("/files/x/", True),
        ("/media/a.pdf", True),
        ("https://example.com/a.pdf", True),
        ("http://example.com/a.pdf", True),
        ("/\\evil.com", False),  # browsers read it as //evil.com
        ("//evil.com", False),
        ("/\t/evil.com", False),  # browsers drop tabs and newlines: //evil.com again
        ("/\n/evil.com", False),
        ("/", False),
        ("javascript:alert(1)", False),
        ("evil.com", False),
    ],
)
@pytest.mark.django_db
def test_the_message_admin_links_an_attachment_only_to_our_paths_and_web_addresses(
    admin_client, url, linked
):
    message, _created = message_post(
        dialog=DialogFactory(),
        author_kind=AuthorKind.BOT,
        text="Here",
        attachments=[{"kind": "document", "file_name": "invoice.pdf", "url": url}],
    )
    content = admin_client.get(f"/admin/chats/message/{message.pk}/change/").content.decode()
    assert "invoice.pdf" in content
    assert ('">invoice.pdf</a>' in content) is linked
