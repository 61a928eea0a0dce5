"""What every API view shares: JSON in and out, errors as JSON with a clear message,
the key's scope and chats, the per-key rate limit, cursor pagination."""

from __future__ import annotations

import codecs
import json

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import APIView, exception_handler
from rest_framework.viewsets import GenericViewSet

from chats.services import DialogClosed
from chats.validators import text_make_encodable
from distributor.models import ApiKey
from handoff.api import schema  # noqa: F401 - the key's security scheme in the schema
from handoff.api.authentication import ApiKeyAuthentication
from handoff.api.pagination import ApiCursorPagination
from handoff.api.permissions import HasScope, chat_ids_for_key
from handoff.api.throttling import ApiKeyRateThrottle
from handoff.services import HandoffError, NotYourRequest

# a body larger than this is refused before it is parsed
MAX_BODY_BYTES = 64 * 1024


# refusals of the domain that are about what was sent, not the object's state: 400
BAD_INPUT_CODES = {"reason_blank", "reason_too_long", "transfer_to_self"}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = gettext_lazy("The request body is too large (at most 64 KB).")
    default_code = "too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("This cannot be done in the object's current state.")
    default_code = "conflict"


class ApiJSONParser(JSONParser):
    """JSON bodies only, bounded in size; nesting too deep for the decoder is a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        raw = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError):
            raise exceptions.ParseError(_("The body is not valid UTF-8.")) from None
        try:
            return json.loads(text, parse_constant=_no_constant)
        except RecursionError:
            raise exceptions.ParseError(_("The JSON is nested too deeply.")) from None
        except ValueError as error:
            raise exceptions.ParseError(
                _("The body is not valid JSON: %(error)s") % {"error": error}
            ) from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class ApiJSONRenderer(JSONRenderer):
    """JSON; an error echoing text that cannot be encoded (a lone surrogate someone
    sent) is rendered with the character replaced instead of failing."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return super().render(_encodable(data), accepted_media_type, renderer_context)


def _encodable(data):
    if isinstance(data, str):
        return text_make_encodable(data)
    if isinstance(data, dict):
        return {_encodable(key): _encodable(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_encodable(item) for item in data]
    return data


def api_exception_handler(exc, context):
    """Every error as {"detail": message, "code": code} (+ "errors": field -> messages
    for bad input). Refusals of the domain (a closed dialog, a taken request) are 409."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, DialogClosed):
        exc = Conflict(_("The dialog is closed."), code="dialog_closed")
    elif isinstance(exc, NotYourRequest):
        exc = exceptions.ValidationError(
            {"operator": [_("This manager does not serve the request's chat.")]}
        )
    elif isinstance(exc, HandoffError) and exc.code in BAD_INPUT_CODES:
        exc = exceptions.ValidationError({"non_field_errors": [exc.detail]})
    elif isinstance(exc, HandoffError):
        exc = Conflict(exc.detail, code=exc.code)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(_("Not found."))
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {
            "detail": _("The request is not valid: see errors."),
            "code": "invalid",
            "errors": errors,
        }
    else:
        codes = exc.get_codes()
        response.data = {
            "detail": str(exc.detail) if not isinstance(exc.detail, dict | list) else exc.detail,
            "code": codes if isinstance(codes, str) else exc.default_code,
        }
    return response


class ApiViewBase:
    """What every API view has: the key's authentication and scope (`scope_area` names
    the part of the API; `bot_key_allowed`: an API bot's own key may call it), the per-key
    rate limit, bounded JSON bodies, errors as JSON."""

    scope_area = ""
    bot_key_allowed = False
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [ApiJSONParser]
    renderer_classes = [ApiJSONRenderer]

    def get_exception_handler(self):
        return api_exception_handler

    @property
    def key(self) -> ApiKey:
        return self.request.auth


class ApiView(ApiViewBase, APIView):
    """The base of the API's plain views (the API bots' endpoints)."""


class ApiViewSet(ApiViewBase, GenericViewSet):
    """The base of the API's viewsets."""

    pagination_class = ApiCursorPagination
    lookup_value_regex = "[0-9]{1,18}"

    @property
    def chat_ids(self) -> set[int]:
        return chat_ids_for_key(self.key)

    def paginated(self, queryset, serializer_class, paginator=None, **context) -> Response:
        paginator = paginator or self.paginator
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(
            page, many=True, context={**self.get_serializer_context(), **context}
        ).data
        return paginator.get_paginated_response(data)
