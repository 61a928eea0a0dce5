"""Cursor pagination for every list of the API: stable under inserts, opaque cursors.
A tampered cursor is a 400, never a server error."""

from __future__ import annotations

import re

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination

_INTEGER = re.compile(r"-?[0-9]{1,18}")
_DATETIME = re.compile(r"[0-9][0-9T:.+ Z-]{9,39}")


class ApiCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "id"
    cursor_query_description = _("The cursor of the page: the `next` or `previous` link's.")
    page_size_query_description = _("How many items a page holds (1 to 200, 50 by default).")
    invalid_cursor_message = _("This cursor is not valid: use the `next` or `previous` link.")
    # what the first ordering field holds, so a forged position is refused up front
    position_kind = "int"

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": [self.invalid_cursor_message]}) from None
        if (
            cursor is not None
            and cursor.position is not None
            and not self._position_ok(cursor.position)
        ):
            raise exceptions.ValidationError({"cursor": [self.invalid_cursor_message]})
        return cursor

    def _position_ok(self, position: str) -> bool:
        if self.position_kind == "int":
            return _INTEGER.fullmatch(position) is not None
        return _DATETIME.fullmatch(position) is not None and parse_datetime(position) is not None


class DialogCursorPagination(ApiCursorPagination):
    """Newest dialogs first, like the dialog viewer."""

    ordering = ("-started_at", "-id")
    position_kind = "datetime"


class MessageCursorPagination(ApiCursorPagination):
    """A dialog's messages in order (by sequence); `next` follows newer messages."""

    ordering = "sequence"
    page_size = 100


class RequestCursorPagination(ApiCursorPagination):
    """Newest requests first."""

    ordering = "-id"
