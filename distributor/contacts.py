"""Normal forms of contact details, so one customer is found whatever way it was typed."""

from __future__ import annotations

import re

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
