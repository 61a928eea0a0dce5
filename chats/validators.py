"""Validators for chat settings: colours and avatar images."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

AVATAR_MAX_BYTES = 5 * 1024 * 1024
AVATAR_FORMATS = {"JPEG", "PNG"}

_BYTE = r"(?:25[0-5]|2[0-4]\d|1\d\d|\d?\d)"
_ALPHA = r"(?:0|1|0?\.\d+|1\.0+|\d{1,2}%|100%)"
_PERCENT = r"(?:100|\d?\d)(?:\.\d+)?%"
_HUE = r"(?:360|3[0-5]\d|[12]?\d?\d)(?:\.\d+)?(?:deg)?"
_COLOUR_PATTERNS = [
    re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})"),
    re.compile(rf"rgba?\(\s*{_BYTE}\s*,\s*{_BYTE}\s*,\s*{_BYTE}\s*(?:,\s*{_ALPHA}\s*)?\)"),
    re.compile(rf"hsla?\(\s*{_HUE}\s*,\s*{_PERCENT}\s*,\s*{_PERCENT}\s*(?:,\s*{_ALPHA}\s*)?\)"),
]

http_url_validator = URLValidator(schemes=["http", "https"])


def validate_colour(value: str) -> None:
    """Accept HEX (#rgb, #rgba, #rrggbb, #rrggbbaa), rgb()/rgba() and hsl()/hsla()."""
    candidate = value.strip()
    if not any(pattern.fullmatch(candidate) for pattern in _COLOUR_PATTERNS):
        raise ValidationError(
            _(
                "“%(value)s” is not a colour: use HEX (#1a2b3c), RGBA (rgba(26,43,60,0.5)) "
                "or HSLA (hsla(210,40%%,17%%,0.5))."
            ),
            code="invalid_colour",
            params={"value": value},
        )


def validate_avatar(file) -> None:
    """An avatar is a JPEG or PNG of at most 5 MB, judged by its bytes, not its name."""
    if file.size > AVATAR_MAX_BYTES:
        raise ValidationError(
            _("The image is %(size)s MB; avatars may be at most 5 MB."),
            code="avatar_too_large",
            params={"size": round(file.size / (1024 * 1024), 1)},
        )
    position = file.tell() if hasattr(file, "tell") else 0
    try:
        file.seek(0)
        with Image.open(file) as image:
            image_format = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationError(
            _("The file is not a JPEG or PNG image."), code="avatar_not_image"
        ) from None
    finally:
        file.seek(position)
    if image_format not in AVATAR_FORMATS:
        raise ValidationError(
            _("Avatars must be JPEG or PNG images, not %(format)s."),
            code="avatar_wrong_format",
            params={"format": image_format},
        )


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_has_lone_surrogate(value: str) -> bool:
    """True when `value` holds a UTF-16 surrogate on its own: such text cannot be
    encoded as UTF-8, so it must never be stored or sent."""
    return _LONE_SURROGATE.search(value) is not None


def value_has_lone_surrogate(value: object) -> bool:
    """True when any string in `value` (a string, or JSON-like data: dict keys and
    values, list and tuple items, however deeply nested) holds a lone surrogate.
    Iterative, so no nesting can exhaust the stack; other types are ignored."""
    return _any_string(value, text_has_lone_surrogate)


def value_has_nul(value: object) -> bool:
    """True when any string in `value` (walked like value_has_lone_surrogate) holds
    U+0000: PostgreSQL stores no NUL in text or jsonb ("\\u0000 cannot be converted to
    text", "A string literal cannot contain NUL"), so such text must never reach it."""
    return _any_string(value, lambda text: "\x00" in text)


def _any_string(value: object, test: Callable[[str], bool]) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if test(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


def validate_encodable(value: object) -> None:
    """Refuse a string or JSON-like value holding a lone surrogate or a NUL anywhere
    (keys too): ValidationError with code "unencodable"."""
    if value_has_lone_surrogate(value):
        raise ValidationError(
            _("The text contains characters that cannot be encoded (a lone surrogate)."),
            code="unencodable",
        )
    if value_has_nul(value):
        raise ValidationError(
            _("The text contains a NUL character (U+0000), which cannot be stored."),
            code="unencodable",
        )


def text_make_encodable(value: str) -> str:
    """`value` with every lone surrogate replaced by U+FFFD: for encoders that must
    never fail on what is already stored."""
    return _LONE_SURROGATE.sub("\ufffd", value)


_SITE_SOURCE = re.compile(
    r"https?://(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"(?::\d{1,5})?",
    re.IGNORECASE,
)


def allowed_site_sources(value: str) -> list[str]:
    """The non-empty lines of a chat's "allowed sites" setting, stripped, trailing "/" removed."""
    return [line.strip().rstrip("/") for line in value.splitlines() if line.strip()]


def validate_allowed_sites(value: str) -> None:
    """One site per line: scheme, host (optionally "*." in front) and port, nothing else,
    so each line can go into the widget's Content-Security-Policy frame-ancestors as is."""
    bad = [line for line in allowed_site_sources(value) if not _SITE_SOURCE.fullmatch(line)]
    if bad:
        raise ValidationError(
            _(
                "“%(value)s” is not a site: write one per line as https://example.com, "
                "https://*.example.com or http://localhost:8000 (no path)."
            ),
            code="invalid_site",
            params={"value": bad[0]},
        )
