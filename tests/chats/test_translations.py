"""The compiled catalogs in locale/ translate the texts visitors see."""

import pytest
from django.utils.translation import gettext, override

from tests.chats.factories import ChatFactory

SYSTEM_TEXTS = [
    "Please wait, we are connecting you to an operator.",  # handoff/services.py
    "Sorry, I did not understand. Please choose one of the options.",  # bot_engine.py
    "Chat with us",  # chats/views.py
    "Type a message…",  # templates/chats/widget.html
]


@pytest.mark.parametrize("language", ["ru", "it"])
@pytest.mark.parametrize("text", SYSTEM_TEXTS)
def test_system_texts_are_translated(language, text):
    with override(language):
        translated = gettext(text)

    assert translated.strip()
    assert translated != text


def test_english_keeps_the_source_texts():
    with override("en"):
        assert [gettext(text) for text in SYSTEM_TEXTS] == SYSTEM_TEXTS


@pytest.mark.django_db
def test_widget_of_a_russian_chat_is_rendered_in_russian(client):
    chat = ChatFactory(language="ru")
    with override("ru"):
        send = gettext("Send")
    assert send != "Send"

    # secure: with DEBUG off, SECURE_SSL_REDIRECT sends plain http to https
    response = client.get(f"/widget/{chat.public_key}/", secure=True)

    assert response.status_code == 200
    assert send in response.content.decode()
