"""Review of issue 11: the auto-replies (and the rest of issue 11's new strings) are
not in locale/ru or locale/it: a Russian or Italian chat gets them in English."""

from __future__ import annotations

import pytest
from django.utils.translation import gettext, override

from distributor.services import chat_distribution_for
from distributor.services.distribution_settings import auto_reply_defaults
from tests.chats.factories import ChatFactory

pytestmark = pytest.mark.django_db

ENGLISH = auto_reply_defaults("en")


@pytest.mark.parametrize("language", ["ru", "it"])
@pytest.mark.parametrize("field", sorted(ENGLISH))
def test_a_chats_default_auto_replies_are_in_its_language(language, field):
    chat = ChatFactory(language=language)
    assert getattr(chat_distribution_for(chat), field) != ENGLISH[field]


@pytest.mark.parametrize("language", ["ru", "it"])
@pytest.mark.parametrize(
    "text",
    [
        "Say why you transfer the conversation.",  # handoff.services.transfer
        "Transfer cancelled: the conversation stays with you.",  # Telegram
        "Back to the bot",  # Telegram's transfer button
    ],
)
def test_issue_11s_operator_texts_are_translated(language, text):
    with override(language):
        assert gettext(text) != text
