"""The upload endpoints (visitor: widget token; operator: session, their own accepted
request) and the signed download."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from chats.models import Upload
from chats.services import dialog_start_or_resume
from chats.services.uploads import upload_attachment
from chats.visitor_tokens import visitor_token_issue, visitor_token_read
from handoff.services import request_accept, request_open
from tests.chats import upload_files as files
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def visitor():
    chat = ChatFactory(language="en")
    token = visitor_token_issue(public_key=chat.public_key)
    dialog, _created = dialog_start_or_resume(
        chat=chat,
        messenger="web",
        external_id=visitor_token_read(public_key=chat.public_key, token=token),
    )
    return chat, token, dialog


def post_widget(chat, token, name, content):
    return HttpClient().post(
        f"/widget/{chat.public_key}/uploads",
        {"token": token, "file": files.uploaded(name, content)},
    )


# --- the visitor -------------------------------------------------------------------


def test_a_visitor_uploads_an_image_and_gets_a_token(visitor):
    chat, token, dialog = visitor
    response = post_widget(chat, token, "cat.png", files.png())
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["file_name"]) == ("photo", "cat.png")
    upload = Upload.objects.get(token=body["upload"])
    assert (upload.dialog_id, upload.client_id) == (dialog.pk, dialog.client_id)


def test_a_forged_token_is_refused_and_nothing_stored(visitor):
    chat, token, _dialog = visitor
    response = post_widget(chat, token + "x", "cat.png", files.png())
    assert response.status_code == 401
    assert response.json()["error"] == "bad_token"
    assert not Upload.objects.exists()


def test_another_chats_token_is_refused(visitor):
    chat, _token, _dialog = visitor
    other_token = visitor_token_issue(public_key=ChatFactory().public_key)
    assert post_widget(chat, other_token, "cat.png", files.png()).status_code == 401


def test_a_visitor_without_an_open_dialog_is_refused(visitor):
    chat, _token, _dialog = visitor
    stranger = visitor_token_issue(public_key=chat.public_key)
    response = post_widget(chat, stranger, "cat.png", files.png())
    assert response.status_code == 409
    assert response.json()["error"] == "no_dialog"


def test_a_refusal_is_in_the_chats_language(visitor):
    chat, token, _dialog = visitor
    chat.language = "ru"
    chat.save()
    response = post_widget(chat, token, "report.pdf", b"<html></html>")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "wrong_extension"
    assert "report.pdf" in body["detail"]


def test_a_declared_body_over_the_limit_is_refused_before_reading(visitor, settings):
    chat, token, _dialog = visitor
    settings.BATON_UPLOAD_MAX_BYTES = 10
    response = post_widget(chat, token, "a.txt", b"a" * 100_000)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert not Upload.objects.exists()


def test_no_file_is_a_clear_error(visitor):
    chat, token, _dialog = visitor
    response = HttpClient().post(f"/widget/{chat.public_key}/uploads", {"token": token})
    assert (response.status_code, response.json()["error"]) == (400, "no_file")


def test_get_is_not_allowed(visitor):
    chat, _token, _dialog = visitor
    assert HttpClient().get(f"/widget/{chat.public_key}/uploads").status_code == 405


def test_uploads_over_the_hourly_limit_answer_429(visitor, settings):
    chat, token, _dialog = visitor
    settings.BATON_UPLOAD_PER_HOUR = 1
    assert post_widget(chat, token, "a.txt", b"a").status_code == 201
    response = post_widget(chat, token, "b.txt", b"b")
    assert (response.status_code, response.json()["error"]) == (429, "rate_limited")


# --- the download ------------------------------------------------------------------


def test_a_document_downloads_as_an_attachment_with_nosniff(visitor):
    chat, token, _dialog = visitor
    upload = Upload.objects.get(
        token=post_widget(chat, token, "r.pdf", files.pdf()).json()["upload"]
    )
    response = HttpClient().get(upload_attachment(upload)["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="r.pdf"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content) == files.pdf()


def test_an_image_is_served_inline_with_its_recognised_type(visitor):
    chat, token, _dialog = visitor
    upload = Upload.objects.get(
        token=post_widget(chat, token, "c.png", files.png()).json()["upload"]
    )
    response = HttpClient().get(upload_attachment(upload)["url"])
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline;")


def test_a_forged_download_address_is_404(visitor):
    assert HttpClient().get("/files/1:forged/").status_code == 404
    assert HttpClient().get("/files/1/").status_code == 404


# --- the operator --------------------------------------------------------------------


@pytest.fixture
def accepted():
    chat = ChatFactory()
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    request = request_open(dialog=DialogFactory(client__chat=chat), reason="headset")
    request_accept(request=request, operator=olga)
    return request, olga, ivan


def post_console(user, request_id, name, content):
    client = HttpClient()
    if user is not None:
        client.force_login(user)
    return client.post(
        f"/console/requests/{request_id}/uploads", {"file": files.uploaded(name, content)}
    )


def test_the_operator_who_holds_the_request_uploads(accepted):
    request, olga, _ivan = accepted
    response = post_console(olga.user, request.pk, "price.pdf", files.pdf())
    assert response.status_code == 201
    upload = Upload.objects.get(token=response.json()["upload"])
    assert (upload.user_id, upload.dialog_id, upload.client_id) == (
        olga.user_id,
        request.dialog_id,
        None,
    )


def test_another_operator_of_the_chat_is_refused(accepted):
    request, _olga, ivan = accepted
    response = post_console(ivan.user, request.pk, "price.pdf", files.pdf())
    assert response.status_code == 403
    assert response.json()["error"] == "not_yours"
    assert not Upload.objects.exists()


def test_an_operator_of_another_chat_gets_not_found(accepted):
    request, _olga, _ivan = accepted
    stranger = OperatorFactory(chats=[ChatFactory()])
    response = post_console(stranger.user, request.pk, "price.pdf", files.pdf())
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


def test_anonymous_is_refused(accepted):
    request, _olga, _ivan = accepted
    response = post_console(None, request.pk, "price.pdf", files.pdf())
    assert (response.status_code, response.json()["error"]) == (401, "not_logged_in")


def test_the_console_upload_needs_the_csrf_token(accepted):
    request, olga, _ivan = accepted
    client = HttpClient(enforce_csrf_checks=True)
    client.force_login(olga.user)
    response = client.post(
        f"/console/requests/{request.pk}/uploads",
        {"file": files.uploaded("a.txt", b"hi")},
    )
    assert response.status_code == 403
    assert not Upload.objects.exists()


def test_an_operator_upload_is_checked_by_content(accepted):
    request, olga, _ivan = accepted
    response = post_console(olga.user, request.pk, "photo.jpg", b"MZ\x90\x00" + bytes(200))
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_file"
