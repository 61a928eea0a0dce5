"""Parsing widget frames: every kind of bad frame gets its code and a detail that states
the limit the server applies (read from the settings or the stored column)."""

import json
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from chats.frames import FRAME_INT_MAX
from chats.models import Message, PageVisit
from chats.visitor_tokens import visitor_token_issue
from chats.widget_protocol import (
    ButtonPress,
    ClientText,
    CloseAsk,
    FormAnswers,
    FrameError,
    HandoffAsk,
    Hello,
    PageOpened,
    Ping,
    Rating,
    widget_frame_parse,
)
from handoff.models import Request
from tests.chats.test_consumers import chat, hello, open_socket  # noqa: F401 - fixture

LONE = "a\\ud800b"  # JSON escape: valid UTF-8 on the wire, a lone surrogate once decoded
NUL = "a\\u0000b"
BIG = FRAME_INT_MAX + 1


def refusal(raw):
    with pytest.raises(FrameError) as error:
        widget_frame_parse(raw)
    return error.value.as_frame()


@pytest.mark.parametrize(
    ("raw", "frame"),
    [
        (
            '{"type":"hello","token":"t","last_sequence":3,"dialog":"d"}',
            Hello(token="t", last_sequence=3, dialog="d"),
        ),
        (
            '{"type":"hello","token":"t","dialog":null}',
            Hello(token="t", last_sequence=0, dialog=None),
        ),
        (
            '{"type":"message","client_msg_id":"c1","text":"hi"}',
            ClientText(client_msg_id="c1", text="hi"),
        ),
        (
            '{"type":"button","client_msg_id":"c2","button_id":7}',
            ButtonPress(client_msg_id="c2", button_id=7),
        ),
        ('{"type":"handoff"}', HandoffAsk()),
        (
            '{"type":"page","url":"https://x.example/","title":"X","visited_at":1000}',
            PageOpened(
                url="https://x.example/",
                title="X",
                visited_at=datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
            ),
        ),
        (
            '{"type":"page","url":"https://x.example/"}',
            PageOpened(url="https://x.example/", title="", visited_at=None),
        ),
        ('{"type":"ping"}', Ping()),
        ('{"type":"form","answers":{"1":"Ann"}}', FormAnswers(form="form", answers={"1": "Ann"})),
        (
            '{"type":"contact","answers":{"phone":"+1"}}',
            FormAnswers(form="contact", answers={"phone": "+1"}),
        ),
        ('{"type":"close"}', CloseAsk()),
        ('{"type":"rate","request":4,"score":5}', Rating(request_id=4, score=5)),
    ],
)
def test_each_frame_of_the_documented_wire_format_parses_to_its_typed_frame(raw, frame):
    assert widget_frame_parse(raw) == frame


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, {"code": "malformed", "detail": "binary frames are not accepted"}),
        ("not json", {"code": "malformed", "detail": "a frame is one JSON object"}),
        (
            "[1, 2]",
            {"code": "malformed", "detail": "a frame is a JSON object with a string 'type'"},
        ),
        (
            '{"type": 1}',
            {"code": "malformed", "detail": "a frame is a JSON object with a string 'type'"},
        ),
        (
            # deeper than json.loads goes
            '{"type":"ping","x":' + "[" * 5000 + "]" * 5000 + "}",
            {"code": "malformed", "detail": "a frame is one JSON object"},
        ),
        (
            '{"type":"ping","x":' + "[" * 50 + "]" * 50 + "}",
            {"code": "malformed", "detail": "frames nest at most 8 levels deep"},
        ),
        (
            f'{{"type":"message","client_msg_id":"c9","text":"{LONE}"}}',
            {
                "code": "invalid",
                "detail": "the frame holds text that cannot be encoded (a lone surrogate)",
                "client_msg_id": "c9",
            },
        ),
        (
            f'{{"type":"message","client_msg_id":"c9","text":"{NUL}"}}',
            {
                "code": "invalid",
                "detail": "the frame holds a NUL character (U+0000), which cannot be stored",
                "client_msg_id": "c9",
            },
        ),
        (
            f'{{"type":"form","answers":{{"{NUL}":"x"}}}}',
            {
                "code": "invalid",
                "detail": "the frame holds a NUL character (U+0000), which cannot be stored",
            },
        ),
        (
            f'{{"type":"button","client_msg_id":"c3","button_id":{BIG}}}',
            {
                "code": "malformed",
                "detail": f"'button_id' must be an integer from 1 to {FRAME_INT_MAX}",
                "client_msg_id": "c3",
            },
        ),
        (
            '{"type":"button","client_msg_id":"c3","button_id":true}',
            {
                "code": "malformed",
                "detail": f"'button_id' must be an integer from 1 to {FRAME_INT_MAX}",
                "client_msg_id": "c3",
            },
        ),
        (
            '{"type":"hello","token":"t","last_sequence":false}',
            {
                "code": "malformed",
                "detail": "'last_sequence' must be an integer of at least 0",
            },
        ),
        (
            '{"type":"hello","token":"t","last_sequence":-1}',
            {
                "code": "malformed",
                "detail": "'last_sequence' must be an integer of at least 0",
            },
        ),
        (
            '{"type":"rate","request":true,"score":5}',
            {
                "code": "malformed",
                "detail": f"'request' must be an integer from 1 to {FRAME_INT_MAX}",
            },
        ),
        (
            '{"type":"rate","request":1,"score":1.5}',
            {
                "code": "malformed",
                "detail": f"'score' must be an integer from 0 to {FRAME_INT_MAX}",
            },
        ),
        (
            '{"type":"page","url":"https://x.example/","visited_at":1e400}',
            {
                "code": "malformed",
                "detail": f"'visited_at' must be an integer from 0 to {FRAME_INT_MAX}",
            },
        ),
        (
            f'{{"type":"page","url":"https://x.example/","visited_at":{FRAME_INT_MAX}}}',
            {"code": "malformed", "detail": "'visited_at' is not a time"},
        ),
        ('{"type":"page","title":"t"}', {"code": "malformed", "detail": "'url' must be a string"}),
        (
            '{"type":"hello","token":"t","dialog":5}',
            {"code": "malformed", "detail": "'dialog' must be a string"},
        ),
        (
            '{"type":"message","client_msg_id":"c4","text":5}',
            {
                "code": "malformed",
                "detail": "'text' must be a non-empty string",
                "client_msg_id": "c4",
            },
        ),
        (
            '{"type":"message","client_msg_id":"c4","text":"  "}',
            {
                "code": "malformed",
                "detail": "'text' must be a non-empty string",
                "client_msg_id": "c4",
            },
        ),
        (
            '{"type":"form","answers":{"1":2}}',
            {"code": "malformed", "detail": "'answers' must be an object of at most 50 strings"},
        ),
        (
            '{"type":"teleport"}',
            {"code": "unknown_type", "detail": "unknown frame type 'teleport'"},
        ),
        (
            json.dumps({"type": "x" * 100, "client_msg_id": "c5"}),
            {
                "code": "unknown_type",
                "detail": f"unknown frame type '{'x' * 40}'",
                "client_msg_id": "c5",
            },
        ),
    ],
)
def test_a_bad_frame_gets_its_code_and_detail(raw, expected):
    assert refusal(raw) == {"type": "error", **expected}


@override_settings(BATON_WIDGET_MAX_TEXT_CHARS=5)
def test_a_long_text_is_refused_with_the_configured_limit():
    assert refusal(json.dumps({"type": "message", "client_msg_id": "m1", "text": "x" * 6})) == {
        "type": "error",
        "code": "text_too_long",
        "detail": "a message may be at most 5 characters",
        "client_msg_id": "m1",
    }


@override_settings(BATON_WIDGET_MAX_FRAME_BYTES=100)
def test_a_large_frame_is_refused_with_the_configured_limit():
    assert refusal(json.dumps({"type": "message", "client_msg_id": "m1", "text": "x" * 100})) == {
        "type": "error",
        "code": "frame_too_large",
        "detail": "frames may be at most 100 bytes",
    }


@override_settings(BATON_FRAME_MAX_DEPTH=3)
def test_nesting_is_refused_with_the_configured_depth():
    # frame (1), answers (2), an answer's key and value (3): the form fits, a list in it does not
    assert widget_frame_parse('{"type":"form","answers":{"1":"a"}}').answers == {"1": "a"}
    assert refusal('{"type":"form","answers":{"1":["a"]}}') == {
        "type": "error",
        "code": "malformed",
        "detail": "frames nest at most 3 levels deep",
    }


@override_settings(BATON_WIDGET_MAX_FORM_ANSWERS=2)
def test_too_many_form_answers_are_refused_with_the_configured_limit():
    answers = {str(n): "yes" for n in range(3)}
    assert refusal(json.dumps({"type": "form", "answers": answers}))["detail"] == (
        "'answers' must be an object of at most 2 strings"
    )


def test_a_client_msg_id_longer_than_the_stored_column_is_refused_with_the_limit():
    assert refusal(json.dumps({"type": "message", "client_msg_id": "m" * 65, "text": "hi"})) == {
        "type": "error",
        "code": "malformed",
        "detail": "'client_msg_id' must be 1-64 characters of letters, digits, _-:.",
    }


# --- through the real consumer ------------------------------------------------------


async def stored_counts():
    return await sync_to_async(
        lambda: (Message.objects.count(), PageVisit.objects.count(), Request.objects.count())
    )()


@pytest.mark.django_db(transaction=True)
@override_settings(BATON_WIDGET_MAX_TEXT_CHARS=5)
async def test_the_widget_socket_answers_bad_frames_with_their_error_and_stores_nothing(chat):  # noqa: F811
    communicator, _connected = await open_socket(chat.public_key)
    await hello(communicator, visitor_token_issue(public_key=chat.public_key))
    await communicator.receive_json_from(timeout=5)  # greeting
    before = await stored_counts()
    bad_frames = [
        '{"type":"button","client_msg_id":"c1","button_id":true}',
        f'{{"type":"form","answers":{{"{NUL}":"x"}}}}',
        '{"type":"message","client_msg_id":"c2","text":"toolong"}',
        '{"type":"rate","request":' + str(BIG) + ',"score":5}',
    ]
    # when
    errors = []
    for raw in bad_frames:
        await communicator.send_to(text_data=raw)
        errors.append(await communicator.receive_json_from(timeout=5))
    # then
    assert errors == [
        {
            "type": "error",
            "code": "malformed",
            "detail": f"'button_id' must be an integer from 1 to {FRAME_INT_MAX}",
            "client_msg_id": "c1",
        },
        {
            "type": "error",
            "code": "invalid",
            "detail": "the frame holds a NUL character (U+0000), which cannot be stored",
        },
        {
            "type": "error",
            "code": "text_too_long",
            "detail": "a message may be at most 5 characters",
            "client_msg_id": "c2",
        },
        {
            "type": "error",
            "code": "malformed",
            "detail": f"'request' must be an integer from 1 to {FRAME_INT_MAX}",
        },
    ]
    assert await stored_counts() == before
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()
