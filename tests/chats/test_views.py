import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from chats.enums import AttachmentKind
from chats.visitor_tokens import visitor_token_read
from tests.chats.factories import ChatFactory

pytestmark = pytest.mark.django_db


def test_widget_frame_may_be_framed_and_carries_a_fresh_signed_token(client):
    chat = ChatFactory(bot_color="rgba(1,2,3,0.5)")
    response = client.get(f"/widget/{chat.public_key}/")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert "no-cache" in response.headers["Cache-Control"]
    token = response.context["fresh_token"]
    assert len(visitor_token_read(public_key=chat.public_key, token=token)) >= 32
    # the colours reach the page as data for static/widget/theme.js (no inline style: CSP)
    assert b'data-bot-color="rgba(1,2,3,0.5)"' in response.content


def test_widget_frame_names_the_attachment_kinds_for_the_script(client):
    chat = ChatFactory()
    response = client.get(f"/widget/{chat.public_key}/")
    kinds = re.search(
        rb'<script id="baton-attachment-kinds" type="application/json">(.*?)</script>',
        response.content,
    )
    assert json.loads(kinds[1]) == {kind.name: kind.value for kind in AttachmentKind}


def test_other_pages_may_not_be_framed(client):
    assert client.get("/demo/").headers["X-Frame-Options"] == "DENY"


def test_widget_config_is_readable_from_any_site(client):
    chat = ChatFactory(button_color="#123456")
    chat.messenger_links.create(messenger="telegram", url="https://t.me/x")
    response = client.get(f"/widget/{chat.public_key}/config")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert body["launcher_color"] == "#123456"
    assert body["messenger_links"] == [
        {"messenger": "telegram", "label": "Telegram", "url": "https://t.me/x"}
    ]
    assert body["frame_url"].endswith(f"/widget/{chat.public_key}/")


@pytest.mark.parametrize(
    "path", ["/widget/nope/", "/widget/nope/config", "/widget/nope/avatar/bot"]
)
def test_unknown_chat_key_is_not_found(client, path):
    assert client.get(path).status_code == 404


def test_demo_page_embeds_the_chat_with_the_frame_code(client):
    chat = ChatFactory(public_key="demo")
    response = client.get("/demo/")
    snippet = (
        f'<script src="http://testserver/static/widget/embed.js" '
        f'data-baton-chat="{chat.public_key}" async></script>'
    )
    assert snippet.encode() in response.content


def test_demo_page_without_demo_data_says_how_to_load_it(client):
    response = client.get("/demo/")
    assert response.status_code == 404
    assert b"load_demo" in response.content


def test_avatar_defaults_when_empty_and_serves_the_upload(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    chat = ChatFactory(operator_avatar=SimpleUploadedFile("o.png", buffer.getvalue()))
    default = client.get(f"/widget/{chat.public_key}/avatar/bot")
    assert default.status_code == 302
    assert default.headers["Location"].endswith("/static/widget/avatar-bot.svg")
    uploaded = client.get(f"/widget/{chat.public_key}/avatar/operator")
    assert uploaded.headers["Content-Type"] == "image/png"
    assert b"".join(uploaded.streaming_content) == buffer.getvalue()
    assert client.get(f"/widget/{chat.public_key}/avatar/admin").status_code == 404
