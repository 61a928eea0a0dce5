"""WCAG 2 contrast of a chat's widget colours (issue 13, point 7).

Pure functions over the colour strings the chat's fields accept (chats.validators:
HEX, rgb()/rgba(), hsl()/hsla()). A translucent colour is first laid over what is
behind it, as the browser paints it. The admin warns below AA_NORMAL_TEXT; it never
refuses: a brand colour is the chat owner's choice."""

from __future__ import annotations

import colorsys
import re
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

# WCAG 2.x success criterion 1.4.3: normal text needs at least 4.5:1
AA_NORMAL_TEXT = 4.5

# colours the widget's stylesheet (static/widget/widget.css) puts with the chat's:
# the page behind the messages, the text of bot and operator bubbles, the text of the
# visitor's own bubbles
WIDGET_BACKDROP = "#fafbfc"
WIDGET_PAGE = "#ffffff"
BUBBLE_TEXT = "#1d2533"
USER_BUBBLE_TEXT = "#ffffff"

RGB = tuple[float, float, float]

_NUMBER = r"\s*([0-9.]+%?)\s*"
_RGB = re.compile(rf"rgba?\({_NUMBER},{_NUMBER},{_NUMBER}(?:,{_NUMBER})?\)")
_HSL = re.compile(r"hsla?\(\s*([0-9.]+)(?:deg)?\s*," + rf"{_NUMBER},{_NUMBER}(?:,{_NUMBER})?\)")


def _alpha(text: str | None) -> float:
    if text is None:
        return 1.0
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    return min(max(value, 0.0), 1.0)


def colour_parse(value: str) -> tuple[RGB, float]:
    """((red, green, blue) in 0..255, alpha in 0..1) of a colour string; ValueError
    for anything that is not one."""
    text = value.strip().lower()
    if re.fullmatch(r"#[0-9a-f]{3,4}", text):
        text = "#" + "".join(char * 2 for char in text[1:])
    if re.fullmatch(r"#[0-9a-f]{6}([0-9a-f]{2})?", text):
        channels = [int(text[index : index + 2], 16) for index in range(1, len(text), 2)]
        alpha = channels[3] / 255 if len(channels) == 4 else 1.0
        return (float(channels[0]), float(channels[1]), float(channels[2])), alpha
    match = _RGB.fullmatch(text)
    if match:
        red, green, blue = (min(float(part), 255.0) for part in match.groups()[:3])
        return (red, green, blue), _alpha(match.group(4))
    match = _HSL.fullmatch(text)
    if match:
        hue = float(match.group(1)) % 360 / 360
        saturation = min(float(match.group(2).rstrip("%")), 100.0) / 100
        lightness = min(float(match.group(3).rstrip("%")), 100.0) / 100
        red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
        return (red * 255, green * 255, blue * 255), _alpha(match.group(4))
    raise ValueError(f"not a colour: {value!r}")


def colour_over(value: str, backdrop: RGB) -> RGB:
    """The opaque colour seen when `value` is painted over `backdrop`."""
    rgb, alpha = colour_parse(value)
    return tuple(
        alpha * top + (1 - alpha) * bottom for top, bottom in zip(rgb, backdrop, strict=True)
    )


def relative_luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance of an opaque sRGB colour (channels 0..255)."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(foreground: str, background: str, *, backdrop: str = WIDGET_PAGE) -> float:
    """WCAG 2 contrast ratio (1..21) of text in `foreground` on `background`; either
    may be translucent: the background is laid over `backdrop`, the text over that."""
    behind = colour_over(background, colour_parse(backdrop)[0])
    text = colour_over(foreground, behind)
    lighter, darker = sorted((relative_luminance(text), relative_luminance(behind)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@dataclass(frozen=True)
class ContrastShortfall:
    what: str  # the pair, in words, as the admin shows it
    ratio: float


def widget_contrast_shortfalls(
    *,
    bot_color: str,
    operator_color: str,
    user_color: str,
    button_color: str,
    button_text_color: str,
) -> list[ContrastShortfall]:
    """The text/background pairs of the widget drawn with a chat's colours whose
    contrast is below AA_NORMAL_TEXT (a colour that does not parse is left out: the
    field's validator reports it)."""
    pairs = [
        (
            _("button text on the button colour (header, buttons, Send)"),
            button_text_color,
            button_color,
            WIDGET_PAGE,
        ),
        (_("message text on the bot colour"), BUBBLE_TEXT, bot_color, WIDGET_BACKDROP),
        (_("message text on the operator colour"), BUBBLE_TEXT, operator_color, WIDGET_BACKDROP),
        (_("the visitor's text on the user colour"), USER_BUBBLE_TEXT, user_color, WIDGET_BACKDROP),
    ]
    shortfalls = []
    for what, foreground, background, backdrop in pairs:
        try:
            ratio = contrast_ratio(foreground, background, backdrop=backdrop)
        except ValueError:
            continue
        if ratio < AA_NORMAL_TEXT:
            shortfalls.append(ContrastShortfall(what=str(what), ratio=ratio))
    return shortfalls
