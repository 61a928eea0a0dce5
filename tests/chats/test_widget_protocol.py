"""Parsing widget frames: error texts state the limits the server applies."""

import json

import pytest
from django.test import override_settings

from chats.widget_protocol import FrameError, frame_parse


@override_settings(BATON_WIDGET_MAX_TEXT_CHARS=5)
def test_a_long_text_is_refused_with_the_configured_limit():
    with pytest.raises(FrameError) as error:
        frame_parse(json.dumps({"type": "message", "client_msg_id": "m1", "text": "x" * 6}))
    assert (error.value.code, error.value.detail) == (
        "text_too_long",
        "a message may be at most 5 characters",
    )


@override_settings(BATON_WIDGET_MAX_FRAME_BYTES=100)
def test_a_large_frame_is_refused_with_the_configured_limit():
    with pytest.raises(FrameError) as error:
        frame_parse(json.dumps({"type": "message", "client_msg_id": "m1", "text": "x" * 100}))
    assert (error.value.code, error.value.detail) == (
        "frame_too_large",
        "frames may be at most 100 bytes",
    )


def test_too_many_form_answers_are_refused_with_the_limit():
    answers = {str(n): "yes" for n in range(51)}
    with pytest.raises(FrameError) as error:
        frame_parse(json.dumps({"type": "form", "answers": answers}))
    assert error.value.detail == "'answers' must be an object of at most 50 strings"


def test_a_client_msg_id_longer_than_the_stored_column_is_refused_with_the_limit():
    with pytest.raises(FrameError) as error:
        frame_parse(json.dumps({"type": "message", "client_msg_id": "m" * 65, "text": "hi"}))
    assert error.value.detail == (
        "'client_msg_id' must be 1-64 characters of letters, digits, _-:."
    )
