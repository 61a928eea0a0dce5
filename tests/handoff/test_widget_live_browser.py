"""Issue 13, widget point 6 in real browsers (a visitor and an operator, each in a
context of their own, against Daphne): full screen on phones, one avatar per run of
messages, a header that never wraps, one Send button while a form is open, thumbs and
stars for the rating, safe links, inline thumbnails, typing both ways and "Seen"."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

import pytest
from django.core.files.base import ContentFile
from django.db import connections
from PIL import Image
from playwright.sync_api import expect

from chats.enums import AuthorKind
from chats.models import Chat, Dialog
from chats.services import message_post
from distributor.models import Operator
from handoff.enums import FormFieldKind
from handoff.models import Feedback, FormField, HandoffSettings
from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures
from tests.handoff.test_console_browser import (
    add_pre_handoff_form,
    demo_chat_with_handoff,
    operator_logs_in,
    visitor_opens_the_chat,
)
from tests.servers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VISITOR_NAME = "Ann Example"
QUESTION = "Is my parcel on the way?"
FIRST_REPLY = "Hello Ann, let me look."
LINK_REPLY = "Track it at https://example.com/track?id=7 (not javascript:alert(1))"
LONG_CHAT_NAME = "Demo shop assistant for orders, deliveries, returns and everything else"
LONG_OPERATOR_NAME = "Olga Alexandrovna Konstantinopolskaya of the long evening shift"
# the number of lines a text element's text is laid out on (its line boxes' distinct tops)
LINES = """(element) => {
  const range = document.createRange();
  range.selectNodeContents(element);
  return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size;
}"""


# a large image (800 x 600) the widget must show as a bounded thumbnail
def big_image_served(chat) -> str:
    """An 800x600 PNG the server serves (the chat's bot avatar): the address of a photo
    as the server makes them (a data: or javascript: address is never shown)."""
    buffer = BytesIO()
    Image.new("RGB", (800, 600), (68, 102, 136)).save(buffer, "PNG")
    chat.bot_avatar.save("big-photo.png", ContentFile(buffer.getvalue()))
    return f"/widget/{chat.public_key}/avatar/bot"


def in_another_thread(function, **kwargs):
    """Run a service off this thread (Playwright's loop runs here; the publish after
    commit must not)."""

    def run():
        try:
            return function(**kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def form_with_a_name_question(chat):
    """The pre-handoff form, its first question a name question (it names the visitor)."""
    name_field, topic_field = add_pre_handoff_form(chat)
    FormField.objects.filter(pk=name_field.pk).update(kind=FormFieldKind.NAME)
    return name_field, topic_field


def visitor_answers_the_form(widget, name_field, topic_field) -> None:
    widget.locator("#baton-headset").click()
    form = widget.locator("#baton-messages form.form-form")
    form.locator(f"[name='{name_field.pk}']").fill(VISITOR_NAME)
    form.locator(f"[name='{topic_field.pk}']").select_option("Delivery")
    form.get_by_role("button", name="Send", exact=True).click()
    expect(widget.locator("#baton-messages form.form-form")).to_have_count(0)


def operator_accepts(console, widget, operator_name="Olga") -> None:
    console.locator("#list-pending li").first.click()
    console.locator("#accept").click()
    expect(
        widget.locator("#baton-messages").get_by_text(f"Connected to {operator_name}", exact=True)
    ).to_be_visible()


def operator_says(console, text) -> None:
    console.locator("#reply-text").fill(text)
    console.locator("#reply-text").press("Enter")


def operator_closes(console) -> None:
    console.locator("#close-request").click()
    console.locator("#close-confirm-yes").click()
    expect(console.locator("#readonly")).to_be_visible()


# --- the conversation: typing both ways, seen, runs, links ----------------------------


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_typing_seen_avatar_runs_and_links_between_visitor_and_operator(
    daphne_server, new_page, size
):
    # given: a chat with a pre-handoff form; the operator in the console, the visitor
    # (this size) has answered the form and asked a question nobody opened yet
    chat = demo_chat_with_handoff()
    name_field, topic_field = form_with_a_name_question(chat)
    console = new_page()
    alerts = operator_logs_in(console, daphne_server)
    visitor = new_page()
    visitor.set_viewport_size(screenshot_sizes[size])  # noqa: F405
    widget = visitor_opens_the_chat(visitor, daphne_server)
    messages = widget.locator("#baton-messages")
    visitor_answers_the_form(widget, name_field, topic_field)
    widget.locator("#baton-input").fill(QUESTION)
    widget.locator("#baton-input").press("Enter")
    asked = messages.locator(".from-client[data-sequence]").filter(has_text=QUESTION)
    expect(asked).to_have_count(1)
    expect(messages.locator(".seen")).to_have_count(0)

    # when: the operator opens the request
    console.locator("#list-pending li").first.click()
    expect(console.locator("#messages .from-client .text").last).to_have_text(QUESTION)

    # then: the visitor's question shows "Seen" (once, under the last message read)
    expect(asked.locator(".seen")).to_have_text("Seen")
    expect(messages.locator(".seen")).to_have_count(1)

    # when: the visitor types
    widget.locator("#baton-input").press_sequentially("Any news")

    # then: the operator sees who is typing; the visitor's message clears it
    expect(console.locator("#typing-line")).to_have_text(f"{VISITOR_NAME} is typing…")
    widget.locator("#baton-input").press("Enter")
    expect(console.locator("#messages .from-client .text").last).to_have_text("Any news")
    expect(console.locator("#typing-line")).to_be_hidden()

    # when: the operator accepts and types
    operator_accepts(console, widget)
    console.locator("#reply-text").press_sequentially("Hello")

    # then: the visitor sees Olga typing, and the header names her
    expect(widget.locator("#baton-typing")).to_have_text("Olga is typing…")
    expect(widget.locator("#baton-state")).to_have_text("Olga · Operator connected")

    # when: Olga sends two replies in a row, the second with a link
    console.locator("#reply-text").fill(FIRST_REPLY)
    console.locator("#reply-text").press("Enter")
    expect(widget.locator("#baton-typing")).to_be_hidden()
    operator_says(console, LINK_REPLY)

    # then: one run of two: the name on the first, the avatar beside the last
    from_operator = messages.locator(".from-operator")
    expect(from_operator).to_have_count(2)
    expect(from_operator.nth(0).locator(".author")).to_be_visible()
    expect(from_operator.nth(1).locator(".author")).to_be_hidden()
    expect(from_operator.nth(0).locator(".avatar")).to_have_css("visibility", "hidden")
    expect(from_operator.nth(1).locator(".avatar")).to_have_css("visibility", "visible")
    # and: the address is a safe link, the javascript: text stays text
    link = from_operator.nth(1).get_by_role("link")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "https://example.com/track?id=7")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    expect(from_operator.nth(1).locator(".text")).to_have_text(LINK_REPLY)
    screenshot_keep(visitor, f"widget-live-{size}")  # noqa: F405

    # when: the visitor answers, and Olga replies again
    widget.locator("#baton-input").fill("Thanks!")
    widget.locator("#baton-input").press("Enter")
    expect(console.locator("#messages .from-client .text").last).to_have_text("Thanks!")
    operator_says(console, "You are welcome.")

    # then: a new run starts with its own name and avatar
    expect(from_operator).to_have_count(3)
    expect(from_operator.nth(2).locator(".author")).to_be_visible()
    expect(from_operator.nth(2).locator(".avatar")).to_have_css("visibility", "visible")
    assert alerts == []


def test_the_console_shows_the_visitor_typing_at_desktop_and_phone_sizes(daphne_server, new_page):
    # given: Olga watches the request of a visitor named by the form
    chat = demo_chat_with_handoff()
    name_field, topic_field = form_with_a_name_question(chat)
    console = new_page()
    operator_logs_in(console, daphne_server)
    widget = visitor_opens_the_chat(new_page(), daphne_server)
    visitor_answers_the_form(widget, name_field, topic_field)
    operator_accepts(console, widget)

    # when: the visitor types
    widget.locator("#baton-input").press_sequentially("Where is")

    # then
    expect(console.locator("#typing-line")).to_have_text(f"{VISITOR_NAME} is typing…")
    for size, viewport in screenshot_sizes.items():  # noqa: F405
        console.set_viewport_size(viewport)
        screenshot_keep(console, f"console-typing-{size}")  # noqa: F405
    expect(console.locator("#typing-line")).to_be_visible()


# --- the frame: full screen on phones, a compact header --------------------------------


def test_on_a_phone_the_open_chat_fills_the_screen_and_closes_with_its_button(daphne_server, page):
    # given: the demo site on a phone
    demo_chat_with_handoff()
    page.set_viewport_size(screenshot_sizes["phone"])  # noqa: F405
    page.goto(f"{daphne_server.http_url}/demo/")
    launcher = page.locator("#baton-launcher")
    expect(launcher).to_be_visible()
    box = launcher.bounding_box()
    assert box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844
    screenshot_keep(page, "widget-launcher-phone")  # noqa: F405

    # when: the visitor opens the chat
    launcher.click()
    widget = page.frame_locator("#baton-frame")
    expect(widget.locator("#baton-messages .from-bot .text").first).to_be_visible()

    # then: the frame covers the whole screen, the launcher is out of the way, and the
    # close button is visible and big enough to tap
    frame_box = page.locator("#baton-frame").bounding_box()
    assert (frame_box["x"], frame_box["y"]) == (0, 0)
    assert (frame_box["width"], frame_box["height"]) == (390, 844)
    expect(launcher).to_be_hidden()
    close = widget.get_by_role("button", name="Minimise")
    expect(close).to_be_visible()
    close_box = close.bounding_box()
    assert close_box["width"] >= 44 and close_box["height"] >= 44
    assert close_box["x"] + close_box["width"] <= 390
    screenshot_keep(page, "widget-open-phone")  # noqa: F405

    # when: the visitor closes it
    close.click()

    # then: the page is back, with the launcher
    expect(page.locator("#baton-frame")).to_be_hidden()
    expect(launcher).to_be_visible()


def test_on_a_desktop_the_open_chat_is_a_panel_beside_the_launcher(daphne_server, page):
    # given
    demo_chat_with_handoff()
    page.set_viewport_size(screenshot_sizes["desktop"])  # noqa: F405
    page.goto(f"{daphne_server.http_url}/demo/")

    # when
    page.locator("#baton-launcher").click()
    widget = page.frame_locator("#baton-frame")
    expect(widget.locator("#baton-messages .from-bot .text").first).to_be_visible()

    # then: a 370 px panel, the launcher still there
    frame_box = page.locator("#baton-frame").bounding_box()
    assert frame_box["width"] == 370
    assert frame_box["height"] < 800
    expect(page.locator("#baton-launcher")).to_be_visible()
    screenshot_keep(page, "widget-open-desktop")  # noqa: F405


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_header_never_wraps_with_a_very_long_chat_and_operator_name(
    daphne_server, new_page, size
):
    # given: a very long chat name and operator name; the operator holds the request
    chat = demo_chat_with_handoff()
    Chat.objects.filter(pk=chat.pk).update(name=LONG_CHAT_NAME)
    Operator.objects.filter(user__username="operator").update(display_name=LONG_OPERATOR_NAME)
    console = new_page()
    operator_logs_in(console, daphne_server)
    visitor = new_page()
    visitor.set_viewport_size(screenshot_sizes[size])  # noqa: F405
    widget = visitor_opens_the_chat(visitor, daphne_server)
    widget.locator("#baton-headset").click()
    operator_accepts(console, widget, LONG_OPERATOR_NAME)
    operator_says(console, "Hello!")
    state = widget.locator("#baton-state")
    expect(state).to_have_text(f"{LONG_OPERATOR_NAME} · Operator connected")

    # then: name and state one line each, cut with an ellipsis; the actions inside
    header = widget.locator(".widget-header")
    for line in (header.locator(".name"), state):
        assert line.evaluate(LINES) == 1
        assert line.evaluate("(element) => element.scrollWidth > element.clientWidth")
        expect(line).to_have_css("text-overflow", "ellipsis")
    bounds = header.bounding_box()
    for action in (widget.locator("#baton-end"), widget.get_by_role("button", name="Minimise")):
        assert action.evaluate(LINES) <= 1
        box = action.bounding_box()
        assert box["x"] + box["width"] <= bounds["x"] + bounds["width"] + 0.5
    screenshot_keep(visitor, f"widget-long-names-{size}")  # noqa: F405


# --- one Send button while a form is open ----------------------------------------------


def test_while_the_form_is_open_the_only_send_button_is_the_forms(daphne_server, new_page):
    # given: a chat with a pre-handoff form, and an operator on duty
    chat = demo_chat_with_handoff()
    name_field, _topic_field = add_pre_handoff_form(chat)
    operator_logs_in(new_page(), daphne_server)
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)

    # when: the visitor asks for a person and gets the form
    widget.locator("#baton-headset").click()
    form = widget.locator("#baton-messages form.form-form")
    expect(form).to_be_visible()

    # then: one Send button (the form's), the composer is out of the way
    expect(widget.get_by_role("button", name="Send", exact=True)).to_have_count(1)
    expect(form.get_by_role("button", name="Send", exact=True)).to_be_visible()
    expect(widget.locator("#baton-input")).to_be_hidden()
    expect(form.locator(f"[name='{name_field.pk}']")).to_be_focused()
    screenshot_keep(visitor, "widget-form-desktop")  # noqa: F405
    visitor.set_viewport_size(screenshot_sizes["phone"])  # noqa: F405
    screenshot_keep(visitor, "widget-form-phone")  # noqa: F405

    # when: "Not now" folds the form away
    widget.get_by_role("button", name="Not now").click()

    # then: the composer is back, with its own Send; the form can be opened again
    expect(widget.locator("#baton-input")).to_be_visible()
    expect(widget.get_by_role("button", name="Send", exact=True)).to_have_count(1)
    widget.get_by_role("button", name="Fill in the form").click()
    expect(widget.locator("#baton-input")).to_be_hidden()

    # when: the visitor sends the form
    form.locator(f"[name='{name_field.pk}']").fill(VISITOR_NAME)
    form.get_by_role("button", name="Send", exact=True).click()

    # then: the form is answered, and the composer is back
    expect(widget.locator("#baton-messages form.form-form")).to_have_count(0)
    expect(widget.locator("#baton-input")).to_be_visible()
    expect(widget.get_by_role("button", name="Fill in the form")).to_have_count(0)


# --- rating: thumbs for 2 points, stars for 5 ------------------------------------------


def conversation_ended_with_rating(daphne_server, new_page, scale):
    chat = demo_chat_with_handoff(feedback_scale=scale)
    assert HandoffSettings.objects.get(chat=chat).feedback_scale == scale
    console = new_page()
    operator_logs_in(console, daphne_server)
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    widget.locator("#baton-headset").click()
    operator_accepts(console, widget)
    operator_closes(console)
    return visitor, widget


def test_the_two_point_scale_is_thumbs_down_and_up(daphne_server, new_page):
    # given
    visitor, widget = conversation_ended_with_rating(daphne_server, new_page, 2)
    rating = widget.locator("#baton-messages .rating")

    # then: two thumbs with names
    expect(rating.get_by_role("button")).to_have_text(["👎", "👍"])
    expect(rating.get_by_role("button", name="Bad")).to_be_visible()
    screenshot_keep(visitor, "widget-rating-thumbs-desktop")  # noqa: F405

    # when
    rating.get_by_role("button", name="Good").click()

    # then
    expect(widget.locator("#baton-messages .rating")).to_have_count(0)
    feedback = wait_until(lambda: Feedback.objects.first())
    assert (feedback.score, feedback.scale) == (2, 2)


def test_the_five_point_scale_is_stars_rated_with_the_keyboard(daphne_server, new_page):
    # given
    visitor, widget = conversation_ended_with_rating(daphne_server, new_page, 5)
    stars = widget.get_by_role("radiogroup").get_by_role("radio")
    expect(stars).to_have_count(5)
    for count, star in enumerate(["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]):
        expect(stars.nth(count)).to_have_accessible_name(star)

    # when: the visitor tabs to the stars, moves to the fourth and presses Enter
    widget.locator("#baton-input").focus()
    stars.first.focus()
    for _ in range(3):
        visitor.keyboard.press("ArrowRight")
    expect(widget.get_by_role("radio", name="4 stars")).to_be_focused()
    expect(widget.get_by_role("radio", name="4 stars")).to_have_attribute("aria-checked", "true")
    visitor.set_viewport_size(screenshot_sizes["phone"])  # noqa: F405
    screenshot_keep(visitor, "widget-rating-stars-phone")  # noqa: F405
    visitor.keyboard.press("Enter")

    # then
    expect(widget.locator("#baton-messages .rating")).to_have_count(0)
    feedback = wait_until(lambda: Feedback.objects.first())
    assert (feedback.score, feedback.scale) == (4, 5)


def test_stars_rate_with_a_click_too(daphne_server, new_page):
    _visitor, widget = conversation_ended_with_rating(daphne_server, new_page, 5)
    widget.get_by_role("radio", name="2 stars").click()
    expect(widget.locator("#baton-messages .rating")).to_have_count(0)
    assert wait_until(lambda: Feedback.objects.first()).score == 2


# --- images inline ----------------------------------------------------------------------


def test_a_photo_is_an_inline_bounded_thumbnail_that_opens_the_image(daphne_server, new_page):
    # given: a visitor in the chat
    demo_chat_with_handoff()
    visitor = new_page()
    widget = visitor_opens_the_chat(visitor, daphne_server)
    dialog = Dialog.objects.get()
    big_image = big_image_served(dialog.chat)

    # when: the operator's photo (as a Telegram operator's arrives) is posted
    in_another_thread(
        message_post,
        dialog=dialog,
        author_kind=AuthorKind.OPERATOR,
        author_name="Olga",
        attachments=[
            {"kind": "photo", "url": big_image, "file_name": "parcel.png", "mime_type": "image/png"}
        ],
    )

    # then: the photo is inline, at most 220 px either way, linked to the full image
    photo = widget.get_by_role("img", name="parcel.png")
    expect(photo).to_be_visible()
    box = photo.bounding_box()
    assert 0 < box["width"] <= 220 and 0 < box["height"] <= 220
    expect(widget.locator("a.photo-link")).to_have_attribute(
        "href", f"{daphne_server.http_url}{big_image}"
    )
    screenshot_keep(visitor, "widget-photo-desktop")  # noqa: F405
