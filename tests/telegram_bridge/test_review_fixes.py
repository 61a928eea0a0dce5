"""Regression tests for the code review of issue 8 (Telegram)."""

from __future__ import annotations

import pytest

from telegram_bridge.services.updates import MalformedUpdate, update_parse

# --- review item 9: the update's lone-surrogate check is the shared iterative walk ------


def test_a_lone_surrogate_nested_deeper_than_the_recursion_limit_is_malformed():
    deep: object = "x\ud800"
    for _level in range(5_000):
        deep = [deep]
    payload = {"update_id": 1, "message": {"chat": {"id": 5}, "entities": deep}}
    with pytest.raises(MalformedUpdate, match="lone surrogate"):
        update_parse(payload)


def test_a_deep_update_without_a_lone_surrogate_is_parsed():
    deep: object = "fine"
    for _level in range(5_000):
        deep = [deep]
    payload = {"update_id": 1, "message": {"chat": {"id": 5}, "entities": deep}}
    assert update_parse(payload) == (1, 5)
