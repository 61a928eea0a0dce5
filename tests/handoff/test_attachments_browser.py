"""Attachments both ways, in two browsers: the visitor attaches an image and a PDF in the
widget and the operator sees them in the console; the operator attaches an image and the
visitor sees it inline; a file that is not what its name says is refused with a clear
message in the widget. Screenshots at desktop and phone sizes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chats.models import Upload
from tests.browser_fixtures import *  # noqa: F403
from tests.chats import upload_files as files
from tests.handoff.test_console_browser import (
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)
from tests.servers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def a_file(name: str, mime_type: str, content: bytes) -> dict:
    return {"name": name, "mimeType": mime_type, "buffer": content}


def keep_both_sizes(page, name: str) -> None:
    for size_name, size in screenshot_sizes.items():  # noqa: F405 - from browser_fixtures
        page.set_viewport_size(size)
        screenshot_keep(page, f"{name}-{size_name}")  # noqa: F405


def test_files_go_both_ways_and_a_fake_is_refused(daphne_server, new_page):
    # given: a visitor talking to the operator
    demo_chat_with_handoff()
    console = new_page()
    alerts = operator_logs_in(console, daphne_server)
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    messages = widget.locator("#baton-messages")
    widget.locator("#baton-headset").click()
    console.locator("#list-pending li").click()
    console.locator("#accept").click()
    expect(messages.get_by_text("Connected to Olga", exact=True)).to_be_visible()

    # then: both composers have a labelled paperclip a keyboard reaches
    attach = widget.locator("#baton-attach")
    expect(attach).to_have_attribute("aria-label", "Attach a file")
    expect(console.locator("#reply-attach")).to_have_attribute("aria-label", "Attach a file")
    widget.locator("#baton-input").focus()
    widget.locator("#baton-input").press("Shift+Tab")
    expect(attach).to_be_focused()

    # when: the visitor attaches an image, then a PDF
    with visitor.expect_file_chooser() as chooser:
        attach.press("Enter")
    chooser.value.set_files(a_file("receipt.png", "image/png", files.png()))
    expect(messages.locator(".from-client img.photo")).to_have_count(1)
    with visitor.expect_file_chooser() as chooser:
        attach.click()
    chooser.value.set_files(a_file("invoice.pdf", "application/pdf", files.pdf()))

    # then: the operator sees the image inline and the PDF as a download link
    client_side = console.locator("#messages .from-client")
    expect(client_side.locator("a.media.photo img")).to_have_count(1)
    expect(client_side.locator("a.media.document")).to_have_text(["📎 invoice.pdf"])
    expect(messages.locator(".from-client a.document")).to_have_text(["📎 invoice.pdf"])

    # when: the operator attaches an image
    with console.expect_file_chooser() as chooser:
        console.locator("#reply-attach").click()
    chooser.value.set_files(a_file("map.jpg", "image/jpeg", files.jpeg()))

    # then: the visitor sees it inline, from Olga
    from_operator = messages.locator(".from-operator img.photo")
    expect(from_operator).to_have_count(1)
    expect(from_operator).to_have_js_property("naturalWidth", 64)
    expect(console.locator("#messages .from-operator a.media.photo img")).to_have_count(1)
    keep_both_sizes(visitor, "attachments-widget")
    keep_both_sizes(console, "attachments-console")

    # when: the visitor attaches an HTML page named like a PDF
    with visitor.expect_file_chooser() as chooser:
        attach.click()
    chooser.value.set_files(a_file("offer.pdf", "application/pdf", b"<html>hi</html>"))

    # then: it is refused with a clear message, and nothing is stored or sent
    status = widget.locator("#baton-attach-status")
    expect(status).to_have_text("The file is named “offer.pdf” but its content is not a .pdf file.")
    expect(status).to_have_attribute("role", "alert")
    keep_both_sizes(visitor, "attachments-widget-refused")
    assert wait_until(lambda: Upload.objects.count() == 3)
    assert set(Upload.objects.values_list("file_name", flat=True)) == {
        "receipt.png",
        "invoice.pdf",
        "map.jpg",
    }
    assert not Upload.objects.filter(message__isnull=True).exists()
    assert alerts == []
