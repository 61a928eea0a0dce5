"""The WCAG contrast of a chat's widget colours (chats.contrast), and the admin's warning
when a pair is hard to read (a warning after the save, never a refusal)."""

from __future__ import annotations

import pytest

from chats.contrast import colour_parse, contrast_ratio, widget_contrast_shortfalls
from chats.models import Chat
from tests.handoff.test_admin_polish import _chat_add_data

DEFAULTS = {
    "bot_color": "#eef1f5",
    "operator_color": "#dff3e4",
    "user_color": "#2f6fed",
    "button_color": "#2f6fed",
    "button_text_color": "#ffffff",
}


def test_black_on_white_is_21_to_1():
    assert contrast_ratio("#000", "#fff") == pytest.approx(21.0)


def test_a_colour_on_itself_is_1_to_1():
    assert contrast_ratio("#2f6fed", "#2f6fed") == pytest.approx(1.0)


def test_grey_777_on_white_is_just_below_aa():
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_the_ratio_is_the_same_either_way_round():
    assert contrast_ratio("#2f6fed", "#ffffff") == pytest.approx(contrast_ratio("#fff", "#2f6fed"))


@pytest.mark.parametrize(
    "value",
    ["#f00", "#ff0000", "#ff0000ff", "rgb(255, 0, 0)", "rgba(255,0,0,1)", "hsl(0, 100%, 50%)"],
)
def test_every_accepted_spelling_of_red_is_red(value):
    rgb, alpha = colour_parse(value)
    assert [round(channel) for channel in rgb] == [255, 0, 0]
    assert alpha == 1.0


def test_a_translucent_background_is_laid_over_the_backdrop():
    # black at 50% over white is the grey half way (127.5), ≈ 3.98:1 against white text
    assert contrast_ratio("#ffffff", "rgba(0,0,0,0.5)", backdrop="#ffffff") == pytest.approx(
        contrast_ratio("#ffffff", "rgb(127.5, 127.5, 127.5)")
    )
    assert contrast_ratio("#ffffff", "rgba(0,0,0,0.5)") == pytest.approx(3.98, abs=0.01)


def test_a_fully_transparent_text_has_no_contrast():
    assert contrast_ratio("hsla(0, 0%, 0%, 0)", "#ffffff") == pytest.approx(1.0)


@pytest.mark.parametrize("value", ["blue", "", "#12", "rgb(1,2)", "hsl(x, 1%, 1%)"])
def test_what_is_not_a_colour_is_refused(value):
    with pytest.raises(ValueError, match="not a colour"):
        colour_parse(value)


def test_the_default_colours_are_all_readable():
    assert widget_contrast_shortfalls(**DEFAULTS) == []


def test_a_pale_button_with_white_text_falls_short_and_says_which_pair():
    shortfalls = widget_contrast_shortfalls(**{**DEFAULTS, "button_color": "#ffcc00"})

    assert [shortfall.what for shortfall in shortfalls] == [
        "button text on the button colour (header, buttons, Send)"
    ]
    assert shortfalls[0].ratio < 4.5


def test_a_colour_that_does_not_parse_is_left_to_the_validator():
    assert widget_contrast_shortfalls(**{**DEFAULTS, "bot_color": "very blue"}) == []


# --- the admin ------------------------------------------------------------------------


@pytest.mark.django_db
def test_saving_hard_to_read_colours_warns_but_saves(admin_client):
    # when: a chat is saved with white text on yellow buttons and a dark bot bubble
    response = admin_client.post(
        "/admin/chats/chat/add/",
        _chat_add_data(button_color="#ffcc00", bot_color="#333333"),
        follow=True,
    )

    # then: it is saved as typed, and the admin says which pairs are hard to read
    chat = Chat.objects.get(name="New shop")
    assert (chat.button_color, chat.bot_color) == ("#ffcc00", "#333333")
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert len(warnings) == 2
    assert warnings[0].startswith(
        "Hard to read in the widget: button text on the button colour (header, buttons, Send)"
    )
    assert "message text on the bot colour" in warnings[1]
    assert "at least 4.5:1" in warnings[1]


@pytest.mark.django_db
def test_saving_readable_colours_gives_no_warning(admin_client):
    response = admin_client.post("/admin/chats/chat/add/", _chat_add_data(), follow=True)

    assert Chat.objects.filter(name="New shop").exists()
    assert [m for m in response.context["messages"] if m.level_tag == "warning"] == []
