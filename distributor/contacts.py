"""Normal forms of contact details, so one customer is found whatever way it was typed."""

from __future__ import annotations

import re

import phonenumbers
from django.utils.translation import gettext as _

MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15


def phone_region_check(region: str) -> str:
    """The region code in capitals (ISO 3166, e.g. "RU"); ValueError when the phone
    library does not know it."""
    normal = region.strip().upper() if isinstance(region, str) else ""
    if normal not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            _("“%(region)s” is not a phone region: use two letters such as RU, IT or US.")
            % {"region": str(region)[:10]}
        )
    return normal


def normalise_phone(raw: str, region: str | None) -> str:
    """The number in E.164 ("+79120001122"). `region` reads numbers typed without a
    country code ("8 912 000-11-22" in RU is "+7 912 000 11 22"); with None, a number
    must carry its country code. ValueError with a message a client can read."""
    if region is not None:
        region = phone_region_check(region)
    text = raw.strip() if isinstance(raw, str) else ""
    digits = re.sub(r"\D", "", text)
    if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS + 2:
        # the message surfaces have shown since the first build (an international
        # prefix such as 00 or 810 may add two digits to the fifteen)
        raise ValueError(_("A phone number has 7 to 15 digits."))
    candidates = [text]
    if text.startswith("00"):  # the international prefix most of the world dials
        candidates.append("+" + text[2:])
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if region is None:
        raise ValueError(
            _("This is not a valid phone number. Write it with the country code, e.g. +39 …")
        )
    raise ValueError(
        _(
            "This is not a valid phone number. Write it with the country code, "
            "or as dialled in %(region)s."
        )
        % {"region": region}
    )


def normalise_email(raw: str) -> str:
    return raw.strip().lower()
