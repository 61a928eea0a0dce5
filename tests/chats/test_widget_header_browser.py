"""The widget's header fits a narrow frame (issue 8, review walk): at 320–400 px (the
embed's frame is 370 px wide) the chat's name stays on one line (cut with an ellipsis),
the status sits on one line under it, and "Knowledge base" and "End chat" do not crowd
them onto more lines. Measured from the elements' boxes, not from pixels."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from chats.models import Chat
from handoff.models import HandoffSettings
from tests.browser_fixtures import *  # noqa: F403 - the shared browser fixtures

LONG_NAME = "Demo shop assistant for orders, deliveries and returns"
WAITING = "Waiting for an operator"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# the number of lines a text element's text is laid out on (its line boxes' distinct tops)
LINES = """(element) => {
  const range = document.createRange();
  range.selectNodeContents(element);
  const tops = new Set([...range.getClientRects()].map((rect) => Math.round(rect.top)));
  return tops.size;
}"""
# the header's content height, and the heights of one line of name and of status
HEIGHTS = """(header) => {
  const style = getComputedStyle(header);
  const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
  const name = header.querySelector(".title strong").getBoundingClientRect();
  const state = header.querySelector(".state").getBoundingClientRect();
  return {
    content: header.getBoundingClientRect().height - padding,
    name: name.height,
    state: state.height,
  };
}"""


@pytest.mark.parametrize("width", [320, 370, 400])
def test_the_header_keeps_one_line_of_name_and_one_of_status(daphne_server, page, width):
    # given: a chat with a long name and a knowledge base link, in a frame this wide
    call_command("load_demo")
    Chat.objects.filter(public_key="demo").update(name=LONG_NAME)
    assert HandoffSettings.objects.filter(chat__public_key="demo").exists()
    page.set_viewport_size({"width": width, "height": 640})
    page.goto(f"{daphne_server.http_url}/widget/demo/")
    header = page.locator(".widget-header")

    # when: the visitor asks for a person, so the status and "End chat" both show
    page.locator("#baton-headset").click()
    expect(page.locator("#baton-state")).to_have_text(WAITING)
    expect(page.locator("#baton-end")).to_be_visible()
    expect(header.locator(".knowledge-base")).to_be_visible()

    # then: the name is on one line, cut short, and the status on one line under it
    name = header.locator(".title strong")
    assert name.evaluate(LINES) == 1
    assert name.evaluate("(element) => element.scrollWidth > element.clientWidth")
    assert page.locator("#baton-state").evaluate(LINES) == 1
    heights = header.evaluate(HEIGHTS)
    assert heights["content"] <= heights["name"] + heights["state"] + 1, heights
    # and: each action keeps its label (accessible name) on one line inside the header
    for action in (header.locator(".knowledge-base"), page.locator("#baton-end")):
        assert action.evaluate(LINES) <= 1
        box, bounds = action.bounding_box(), header.bounding_box()
        assert box["x"] >= bounds["x"] and box["x"] + box["width"] <= bounds["x"] + bounds["width"]
    expect(header.locator(".knowledge-base")).to_have_accessible_name("Knowledge base")
    expect(page.locator("#baton-end")).to_have_accessible_name("End chat")
