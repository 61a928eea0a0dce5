"""Normal forms of text, so a keyword matches whatever way it was typed."""

from __future__ import annotations

import re
import unicodedata


def normalise_text(text: str) -> str:
    """Case- and accent-insensitive form used to match keyword triggers."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    without_accents = "".join(char for char in decomposed if not unicodedata.combining(char))
    # ё/й keep their base letter after NFKD; collapse whitespace and punctuation to spaces
    return " ".join(re.sub(r"[^\w]+", " ", without_accents).split())
