"""Review of issue 13's uploads: an uploader over the hourly limit is refused before
their file is read and decoded (Pillow decodes every pixel of an image, up to
BATON_UPLOAD_MAX_PIXELS: the limit must not be checked only after that work)."""

from __future__ import annotations

import pytest

from chats.models import Upload
from tests.chats.test_upload_views import media_root, post_widget, visitor  # noqa: F401

pytestmark = pytest.mark.django_db


def test_an_uploader_over_the_hourly_limit_is_refused_before_the_file_is_judged(
    visitor,  # noqa: F811
    settings,
):
    # given: a visitor who has used their hourly uploads
    chat, token, _dialog = visitor
    settings.BATON_UPLOAD_PER_HOUR = 1
    assert post_widget(chat, token, "a.txt", b"a").status_code == 201

    # when: they send a file whose content would be refused (it is not read at all)
    response = post_widget(chat, token, "photo.jpg", b"MZ\x90\x00" + bytes(200))

    # then: the answer is the limit, and nothing more is stored
    assert (response.status_code, response.json()["error"]) == (429, "rate_limited")
    assert Upload.objects.count() == 1
