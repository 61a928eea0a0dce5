"""Browsers ask every site for /favicon.ico: Baton answers with its icon, not a 404."""

import io

from PIL import Image


def test_favicon_is_served(client):
    # when
    response = client.get("/favicon.ico", follow=True)
    # then: an icon image, reached through the static files (cached, hashed in production)
    assert response.status_code == 200
    assert response.redirect_chain[0][0].startswith("/static/")
    body = b"".join(response.streaming_content)
    with Image.open(io.BytesIO(body)) as icon:
        assert icon.format == "ICO"
