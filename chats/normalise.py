"""Normal forms of contact details, so one customer is found whatever way it was typed."""

from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext as _


def normalise_phone(raw: str) -> str:
    """Digits with a leading +, e.g. '+7 (912) 000-11-22' -> '+79120001122'."""
    digits = re.sub(r"\D", "", raw)
    if raw.strip().startswith("00"):
        digits = digits[2:]
    if not 7 <= len(digits) <= 15:
        raise ValueError(_("A phone number has 7 to 15 digits."))
    return "+" + digits


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def normalise_text(text: str) -> str:
    """Case- and accent-insensitive form used to match keyword triggers."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    without_accents = "".join(char for char in decomposed if not unicodedata.combining(char))
    # ё/й keep their base letter after NFKD; collapse whitespace and punctuation to spaces
    return " ".join(re.sub(r"[^\w]+", " ", without_accents).split())
