"""chats.services.uploads: files checked by their content, stored once, attached once by
their uploader."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from chats.enums import AttachmentKind, AuthorKind
from chats.models import Message, Upload
from chats.services.uploads import (
    UploadNotUsable,
    UploadRefused,
    client_message_with_uploads,
    file_name_clean,
    upload_store,
    uploads_delete_unattached,
)
from tests.chats import upload_files as files
from tests.chats.factories import ClientFactory, DialogFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def dialog():
    return DialogFactory()


def stored_files(root) -> list:
    return [path for path in root.rglob("*") if path.is_file()]


def refused(dialog, name, content, **kwargs) -> UploadRefused:
    with pytest.raises(UploadRefused) as caught:
        upload_store(dialog=dialog, file=files.uploaded(name, content), file_name=name, **kwargs)
    return caught.value


# --- what is taken ----------------------------------------------------------------


def test_a_png_is_stored_as_a_photo_with_its_size(dialog, media_root):
    upload = upload_store(
        dialog=dialog,
        file=files.uploaded("cat.png", files.png()),
        file_name="cat.png",
        client=dialog.client,
    )
    assert (upload.kind, upload.content_type, upload.width, upload.height) == (
        AttachmentKind.PHOTO,
        "image/png",
        40,
        30,
    )
    assert upload.file.read() == files.png()
    assert upload.file_name == "cat.png"


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("report.pdf", files.pdf(), "application/pdf"),
        ("notes.txt", "привет, мир\n".encode(), "text/plain; charset=utf-8"),
        (
            "letter.docx",
            files.docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ],
)
def test_documents_are_recognised_by_their_bytes(dialog, name, content, content_type):
    upload = upload_store(
        dialog=dialog,
        file=files.uploaded(name, content, "image/png"),
        file_name=name,
        client=dialog.client,
    )
    assert (upload.kind, upload.content_type) == (AttachmentKind.DOCUMENT, content_type)


def test_a_name_without_extension_gets_the_one_of_its_content(dialog):
    upload = upload_store(
        dialog=dialog,
        file=files.uploaded("scan", files.jpeg()),
        file_name="scan",
        client=dialog.client,
    )
    assert upload.file_name == "scan.jpg"


# --- refusals: nothing stored --------------------------------------------------------


def test_a_file_over_the_limit_is_refused(dialog, settings, media_root):
    settings.BATON_UPLOAD_MAX_BYTES = 1000
    error = refused(dialog, "big.txt", b"a" * 1001, client=dialog.client)
    assert error.code == "too_large"
    assert "at most 0" in error.message  # the limit is named (1000 bytes ≈ 0 MB)
    assert not Upload.objects.exists()
    assert stored_files(media_root) == []


def test_html_named_pdf_is_refused(dialog, media_root):
    error = refused(
        dialog, "report.pdf", b"<html><script>alert(1)</script></html>", client=dialog.client
    )
    assert error.code == "wrong_extension"
    assert "report.pdf" in error.message
    assert not Upload.objects.exists()
    assert stored_files(media_root) == []


def test_a_png_named_txt_is_refused(dialog):
    assert refused(dialog, "notes.txt", files.png(), client=dialog.client).code == "wrong_extension"


def test_binary_garbage_with_an_image_extension_is_refused(dialog):
    error = refused(dialog, "photo.jpg", bytes(range(256)) * 10, client=dialog.client)
    assert error.code == "unsupported_file"
    assert not Upload.objects.exists()


def test_a_plain_zip_is_not_an_office_document(dialog):
    assert refused(dialog, "archive.docx", files.plain_zip(), client=dialog.client).code == (
        "unsupported_file"
    )


def test_a_truncated_image_is_refused(dialog, media_root):
    error = refused(dialog, "half.jpg", files.truncated_jpeg(), client=dialog.client)
    assert error.code == "damaged_image"
    assert stored_files(media_root) == []


def test_a_decompression_bomb_is_refused(dialog, media_root):
    error = refused(dialog, "bomb.png", files.bomb_png(), client=dialog.client)
    assert error.code == "image_too_large"
    assert not Upload.objects.exists()


def test_an_image_over_the_pixel_limit_is_refused(dialog, settings):
    settings.BATON_UPLOAD_MAX_PIXELS = 1_000_000
    error = refused(dialog, "wide.png", files.big_png(2000, 1000), client=dialog.client)
    assert error.code == "image_too_large"
    assert "2000×1000" in error.message


def test_a_truncated_pdf_is_refused(dialog):
    assert refused(dialog, "cut.pdf", files.pdf()[:40], client=dialog.client).code == (
        "damaged_document"
    )


def test_an_empty_file_is_refused(dialog):
    assert refused(dialog, "empty.txt", b"", client=dialog.client).code == "empty_file"


def test_uploads_over_the_hourly_limit_are_refused(dialog, settings):
    settings.BATON_UPLOAD_PER_HOUR = 2
    for number in range(2):
        upload_store(
            dialog=dialog,
            file=files.uploaded(f"{number}.txt", b"x"),
            file_name=f"{number}.txt",
            client=dialog.client,
        )
    assert refused(dialog, "third.txt", b"x", client=dialog.client).code == "rate_limited"
    assert Upload.objects.count() == 2


# --- names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\scan.png", "scan.png"),
        ("in\x00voice\x1b.pdf", "invoice.pdf"),
        ("bad\ud800name.txt", "bad_name.txt"),
        ("photo\u202egnp.exe", "photognp.exe"),
        ("   ", "file"),
        ("...", "file"),
        ("a" * 300 + ".pdf", "a" * 96 + ".pdf"),
        (None, "file"),
    ],
)
def test_file_names_are_cleaned(raw, clean):
    assert file_name_clean(raw) == clean


def test_a_path_in_the_name_is_stored_as_its_last_part(dialog):
    upload = upload_store(
        dialog=dialog,
        file=files.uploaded("x", b"hello"),
        file_name="../../../etc/cron.d/job.txt",
        client=dialog.client,
    )
    assert upload.file_name == "job.txt"
    assert "cron" not in upload.file.name and ".." not in upload.file.name


# --- attaching ----------------------------------------------------------------------


def visitor_upload(dialog, name="cat.png", content=None) -> Upload:
    return upload_store(
        dialog=dialog,
        file=files.uploaded(name, content or files.png()),
        file_name=name,
        client=dialog.client,
    )


def test_a_visitors_message_carries_the_upload_once(dialog, django_capture_on_commit_callbacks):
    upload = visitor_upload(dialog)
    with django_capture_on_commit_callbacks(execute=True):
        result = client_message_with_uploads(
            dialog=dialog, text="", client_msg_id="m1", tokens=[upload.token]
        )
    assert result.created
    [attachment] = result.message.attachments
    assert attachment["kind"] == AttachmentKind.PHOTO
    assert attachment["file_name"] == "cat.png"
    assert attachment["url"].startswith("/files/")
    assert upload.token not in str(attachment)
    upload.refresh_from_db()
    assert upload.message_id == result.message.pk


def test_a_resend_of_the_same_message_is_a_duplicate(dialog):
    upload = visitor_upload(dialog)
    first = client_message_with_uploads(
        dialog=dialog, text="", client_msg_id="m1", tokens=[upload.token]
    )
    again = client_message_with_uploads(
        dialog=dialog, text="", client_msg_id="m1", tokens=[upload.token]
    )
    assert (again.created, again.message.pk) == (False, first.message.pk)
    assert Message.objects.filter(author_kind=AuthorKind.CLIENT).count() == 1


def test_an_attached_upload_cannot_be_sent_again(dialog):
    upload = visitor_upload(dialog)
    client_message_with_uploads(dialog=dialog, text="", client_msg_id="m1", tokens=[upload.token])
    before = Message.objects.count()
    with pytest.raises(UploadNotUsable):
        client_message_with_uploads(
            dialog=dialog, text="", client_msg_id="m2", tokens=[upload.token]
        )
    assert Message.objects.count() == before


def test_another_visitors_upload_cannot_be_attached(dialog):
    other = DialogFactory(client=ClientFactory(chat=dialog.chat))
    theirs = visitor_upload(other)
    with pytest.raises(UploadNotUsable):
        client_message_with_uploads(
            dialog=dialog, text="", client_msg_id="m1", tokens=[theirs.token]
        )
    theirs.refresh_from_db()
    assert theirs.message_id is None
    assert not Message.objects.filter(dialog=dialog, client_msg_id="m1").exists()


def test_an_operators_upload_cannot_be_attached_by_the_visitor(dialog):
    user = User.objects.create_user("olga")
    operator_file = upload_store(
        dialog=dialog, file=files.uploaded("a.txt", b"hi"), file_name="a.txt", user_id=user.pk
    )
    with pytest.raises(UploadNotUsable):
        client_message_with_uploads(
            dialog=dialog, text="", client_msg_id="m1", tokens=[operator_file.token]
        )


def test_an_unknown_token_changes_nothing(dialog):
    good = visitor_upload(dialog)
    with pytest.raises(UploadNotUsable):
        client_message_with_uploads(
            dialog=dialog, text="x", client_msg_id="m1", tokens=[good.token, "nope"]
        )
    good.refresh_from_db()
    assert good.message_id is None
    assert not Message.objects.filter(client_msg_id="m1").exists()


def test_the_same_upload_twice_in_one_message_is_refused(dialog):
    upload = visitor_upload(dialog)
    with pytest.raises(UploadNotUsable):
        client_message_with_uploads(
            dialog=dialog, text="", client_msg_id="m1", tokens=[upload.token, upload.token]
        )


# --- files never sent -------------------------------------------------------------------


def test_uploads_never_sent_are_deleted_with_their_files(
    dialog, media_root, settings, django_capture_on_commit_callbacks
):
    settings.BATON_UPLOAD_UNATTACHED_HOURS = 24
    sent = visitor_upload(dialog, "sent.png")
    client_message_with_uploads(dialog=dialog, text="", client_msg_id="m1", tokens=[sent.token])
    forgotten = visitor_upload(dialog, "forgotten.png")
    visitor_upload(dialog, "fresh.png")
    Upload.objects.filter(pk__in=[sent.pk, forgotten.pk]).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    # when
    with django_capture_on_commit_callbacks(execute=True):
        deleted = uploads_delete_unattached()
    # then
    assert deleted == 1
    assert set(Upload.objects.values_list("file_name", flat=True)) == {"sent.png", "fresh.png"}
    assert len(stored_files(media_root)) == 2
    assert uploads_delete_unattached() == 0
