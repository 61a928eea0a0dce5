"""Numbers in inline buttons' callback data. Telegram hands back whatever a client
sends as callback data, so a number there is read strictly."""

from __future__ import annotations

# a bigint id has at most 19 digits; 18 keep every value inside it
MAX_DIGITS = 18


def callback_number(text: str) -> int | None:
    """The number `text` is, or None: ASCII digits only ("²".isdigit() is true and int()
    refuses it), at most MAX_DIGITS of them."""
    if 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None
