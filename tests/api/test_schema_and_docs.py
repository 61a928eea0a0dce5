"""The OpenAPI schema is served and valid; the docs page (Swagger UI) loads its
scripts from our static files, with no inline script, under the site's CSP."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_schema_validates_without_warnings(tmp_path):
    # raises on a warning or an invalid schema
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s"))
    assert "/api/v1/dialogs/" in (tmp_path / "s").read_text()


def test_the_schema_is_served_without_a_key(client):
    schema = client.get("/api/v1/schema/?format=json").json()

    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert "/api/v1/requests/{id}/transfer/" in schema["paths"]


def test_the_docs_page_has_no_inline_script_or_style(client):
    response = client.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-inline'" not in directives["style-src"]
    assert "<style" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in src for src in scripts)
    for src in scripts:
        # every script is ours (same origin) and is served
        assert src.startswith("/")
        assert client.get(src).status_code == 200


def test_the_docs_init_script_is_javascript(client):
    response = client.get("/api/v1/docs/?script=")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "/api/v1/schema/" in response.content.decode()
