"""Parsing the operator console's frames: the widget's envelope and readers (one style
for both sockets), and every error frame names the request the frame named."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from chats.frames import FRAME_INT_MAX
from chats.models import Message
from handoff.console_protocol import (
    Accept,
    Close,
    ConsoleFrameError,
    Ping,
    Refresh,
    Reject,
    Reply,
    Watch,
    console_frame_parse,
)
from handoff.models import Request
from tests.handoff.test_console_consumer import (
    console_for,
    receive_until,
    world,  # noqa: F401 - fixture
)

LONE = "a\\ud800b"  # JSON escape: valid UTF-8 on the wire, a lone surrogate once decoded
NUL = "a\\u0000b"
BIG = FRAME_INT_MAX + 1


async def stored():
    return await sync_to_async(
        lambda: (
            Message.objects.count(),
            list(Request.objects.order_by("pk").values_list("pk", "status", "operator_id")),
        )
    )()


def refusal(raw):
    with pytest.raises(ConsoleFrameError) as error:
        console_frame_parse(raw)
    return error.value.as_frame()


@pytest.mark.parametrize(
    ("raw", "frame"),
    [
        ('{"type":"watch","request":3,"last_sequence":9}', Watch(request_id=3, last_sequence=9)),
        ('{"type":"watch","request":3}', Watch(request_id=3, last_sequence=0)),
        ('{"type":"accept","request":3}', Accept(request_id=3)),
        ('{"type":"reject","request":3}', Reject(request_id=3)),
        ('{"type":"close","request":3}', Close(request_id=3)),
        (
            '{"type":"message","request":3,"client_msg_id":"o1","text":"hi"}',
            Reply(request_id=3, client_msg_id="o1", text="hi"),
        ),
        ('{"type":"refresh"}', Refresh()),
        ('{"type":"ping"}', Ping()),
    ],
)
def test_each_frame_of_the_documented_wire_format_parses_to_its_typed_frame(raw, frame):
    assert console_frame_parse(raw) == frame


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, {"code": "malformed", "detail": "binary frames are not accepted", "request": None}),
        ("nope", {"code": "malformed", "detail": "a frame is one JSON object", "request": None}),
        (
            "[1]",
            {
                "code": "malformed",
                "detail": "a frame is a JSON object with a string 'type'",
                "request": None,
            },
        ),
        (
            '{"type":1,"request":3}',
            {
                "code": "malformed",
                "detail": "a frame is a JSON object with a string 'type'",
                "request": None,
            },
        ),
        (
            # deeper than json.loads goes
            '{"type":"watch","x":' + "[" * 5000 + "]" * 5000 + "}",
            {"code": "malformed", "detail": "a frame is one JSON object", "request": None},
        ),
        (
            '{"type":"watch","x":' + "[" * 50 + "]" * 50 + "}",
            {"code": "malformed", "detail": "frames nest at most 8 levels deep", "request": None},
        ),
        (
            f'{{"type":"message","request":3,"client_msg_id":"o9","text":"{LONE}"}}',
            {
                "code": "invalid",
                "detail": "the frame holds text that cannot be encoded (a lone surrogate)",
                "request": 3,
                "client_msg_id": "o9",
            },
        ),
        (
            f'{{"type":"message","request":3,"client_msg_id":"o9","text":"{NUL}"}}',
            {
                "code": "invalid",
                "detail": "the frame holds a NUL character (U+0000), which cannot be stored",
                "request": 3,
                "client_msg_id": "o9",
            },
        ),
        (
            '{"type":"accept","request":true}',
            {
                "code": "malformed",
                "detail": f"'request' must be an integer from 1 to {FRAME_INT_MAX}",
                "request": None,
            },
        ),
        (
            '{"type":"accept","request":"1"}',
            {
                "code": "malformed",
                "detail": f"'request' must be an integer from 1 to {FRAME_INT_MAX}",
                "request": None,
            },
        ),
        (
            f'{{"type":"close","request":{BIG}}}',
            {
                "code": "malformed",
                "detail": f"'request' must be an integer from 1 to {FRAME_INT_MAX}",
                "request": None,
            },
        ),
        (
            '{"type":"watch","request":3,"last_sequence":true}',
            {
                "code": "malformed",
                "detail": "'last_sequence' must be an integer of at least 0",
                "request": 3,
            },
        ),
        (
            '{"type":"message","request":3,"client_msg_id":"bad id","text":"x"}',
            {
                "code": "malformed",
                "detail": "'client_msg_id' must be 1-64 characters of letters, digits, _-:.",
                "request": 3,
            },
        ),
        (
            '{"type":"message","request":3,"client_msg_id":"o2","text":""}',
            {
                "code": "malformed",
                "detail": "'text' must be a non-empty string",
                "request": 3,
                "client_msg_id": "o2",
            },
        ),
        (
            '{"type":"message","request":false,"client_msg_id":"o3","text":"hi"}',
            {
                "code": "malformed",
                "detail": f"'request' must be an integer from 1 to {FRAME_INT_MAX}",
                "request": None,
                "client_msg_id": "o3",
            },
        ),
        (
            '{"type":"fly","request":3}',
            {"code": "unknown_type", "detail": "unknown frame type 'fly'", "request": 3},
        ),
    ],
)
def test_a_bad_frame_gets_its_code_and_detail_and_names_its_request(raw, expected):
    assert refusal(raw) == {"type": "error", **expected}


@override_settings(BATON_WIDGET_MAX_TEXT_CHARS=5)
def test_a_long_reply_is_refused_with_the_configured_limit():
    raw = json.dumps({"type": "message", "request": 3, "client_msg_id": "o4", "text": "x" * 6})
    assert refusal(raw) == {
        "type": "error",
        "code": "text_too_long",
        "detail": "a message may be at most 5 characters",
        "request": 3,
        "client_msg_id": "o4",
    }


@override_settings(BATON_WIDGET_MAX_FRAME_BYTES=100)
def test_a_large_frame_is_refused_with_the_configured_limit():
    raw = json.dumps({"type": "message", "request": 3, "client_msg_id": "o5", "text": "x" * 100})
    assert refusal(raw) == {
        "type": "error",
        "code": "frame_too_large",
        "detail": "frames may be at most 100 bytes",
        "request": None,
    }


@override_settings(BATON_FRAME_MAX_DEPTH=2)
def test_nesting_is_refused_with_the_configured_depth():
    assert refusal('{"type":"refresh","x":[1]}') == {
        "type": "error",
        "code": "malformed",
        "detail": "frames nest at most 2 levels deep",
        "request": None,
    }


# --- through the real consumer ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@override_settings(BATON_WIDGET_MAX_TEXT_CHARS=5)
async def test_the_console_socket_answers_bad_frames_with_their_error_and_changes_nothing(world):  # noqa: F811
    console, _connected, _code = await console_for(world["olga"].user)
    await console.receive_json_from(timeout=5)  # the list
    request_id = world["mine"].pk
    await console.send_json_to({"type": "accept", "request": request_id})
    await receive_until(console, lambda frame: frame["type"] == "request_changed")
    before = await stored()
    bad_frames = [
        f'{{"type":"message","request":{request_id},"client_msg_id":"o1","text":"toolong"}}',
        '{"type":"message","request":true,"client_msg_id":"o2","text":"hi"}',
        f'{{"type":"close","request":{BIG}}}',
        f'{{"type":"message","request":{request_id},"client_msg_id":"o3","text":"{NUL}"}}',
    ]
    # when
    errors = []
    for raw in bad_frames:
        await console.send_to(text_data=raw)
        errors.append((await receive_until(console, lambda frame: frame["type"] == "error"))[-1])
    # then
    assert errors == [
        {
            "type": "error",
            "code": "text_too_long",
            "detail": "a message may be at most 5 characters",
            "request": request_id,
            "client_msg_id": "o1",
        },
        {
            "type": "error",
            "code": "malformed",
            "detail": f"'request' must be an integer from 1 to {FRAME_INT_MAX}",
            "request": None,
            "client_msg_id": "o2",
        },
        {
            "type": "error",
            "code": "malformed",
            "detail": f"'request' must be an integer from 1 to {FRAME_INT_MAX}",
            "request": None,
        },
        {
            "type": "error",
            "code": "invalid",
            "detail": "the frame holds a NUL character (U+0000), which cannot be stored",
            "request": request_id,
            "client_msg_id": "o3",
        },
    ]
    assert await stored() == before
    await console.disconnect()
