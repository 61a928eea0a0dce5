"""The REST API's endpoints (/api/v1/). Thin: they check the key's scope and chats,
validate input, and call the domain's selectors and services. An object of a chat the
key does not have is a 404, as if it did not exist."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import JsonResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from chats.enums import AuthorKind, Messenger
from chats.models import Chat, Client, Dialog, Message
from chats.services import message_post
from distributor.contacts import normalise_email
from distributor.models import Customer, CustomerBinding, Operator, OperatorChannel
from distributor.services import (
    customer_bind,
    customer_client_bind,
    customer_update,
    operator_presence_set,
)
from handoff.api.base import ApiViewSet, Conflict
from handoff.api.pagination import (
    DialogCursorPagination,
    MessageCursorPagination,
    RequestCursorPagination,
)
from handoff.api.serializers import (
    ChatSerializer,
    CustomerBindSerializer,
    CustomerCreateSerializer,
    CustomerSerializer,
    CustomerUpdateSerializer,
    DialogSerializer,
    ErrorSerializer,
    ManagerSerializer,
    MessagePostSerializer,
    MessageSerializer,
    NotOpenedSerializer,
    PresenceSerializer,
    RequestAcceptSerializer,
    RequestOpenSerializer,
    RequestSerializer,
    RequestTransferSerializer,
    TransferTarget,
)
from handoff.dialog_filters import DialogFilters
from handoff.enums import CloseReason, RequestReason, RequestStatus
from handoff.models import Request
from handoff.selectors import with_load
from handoff.selectors_dialogs import dialogs_filtered
from handoff.services import (
    NotYourRequest,
    request_accept,
    request_close,
    request_open,
    request_transfer,
)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input; nothing was changed."),
    401: OpenApiResponse(ErrorSerializer, description="No key, or a revoked or unknown one."),
    403: OpenApiResponse(ErrorSerializer, description="The key lacks the scope."),
    404: OpenApiResponse(ErrorSerializer, description="Not found in this key's chats."),
    429: OpenApiResponse(ErrorSerializer, description="Over the key's rate limit."),
}
CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="Refused in the current state.")}


def responses(ok, *codes: int, extra: dict | None = None) -> dict:
    chosen = {code: ERRORS[code] for code in (401, 403, 429, *codes)}
    return {**ok, **chosen, **(extra or {})}


def _client_of_key(view: ApiViewSet, client_id: int) -> Client:
    client = Client.objects.filter(pk=client_id, chat_id__in=view.chat_ids).first()
    if client is None:
        raise exceptions.ValidationError({"client": [_("Unknown client.")]})
    return client


def _manager_of_key(view: ApiViewSet, operator_id: int) -> Operator:
    operator = (
        Operator.objects.filter(pk=operator_id, chats__in=view.chat_ids)
        .select_related("user")
        .distinct()
        .first()
    )
    if operator is None:
        raise exceptions.ValidationError({"operator": [_("Unknown manager.")]})
    return operator


# --- dialogs and their messages -----------------------------------------------------


DIALOG_FILTER_PARAMETERS = [
    OpenApiParameter("chat", OpenApiTypes.INT64, many=True, description="Only these chats."),
    OpenApiParameter(
        "messenger", str, many=True, enum=Messenger.values, description="Only these channels."
    ),
    OpenApiParameter(
        "status",
        str,
        enum=["all", "active", "closed", "no_operator_response"],
        description="all (default), active, closed, no_operator_response.",
    ),
    OpenApiParameter(
        "date_from", OpenApiTypes.DATE, description="Started on or after (chat's time zone)."
    ),
    OpenApiParameter(
        "date_to", OpenApiTypes.DATE, description="Started on or before (chat's time zone)."
    ),
    OpenApiParameter("marker", str, description="A script marker the dialog reached."),
    OpenApiParameter("operator", OpenApiTypes.INT64, description="A manager took a request."),
    OpenApiParameter("text", str, description="Some message contains this text."),
]


class DialogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    scope_area = "dialogs"
    serializer_class = DialogSerializer
    pagination_class = DialogCursorPagination
    lookup_field = "session_id"
    lookup_value_regex = "[0-9a-f]{32}"

    def base_queryset(self, chat_ids):
        return Dialog.objects.filter(chat_id__in=chat_ids)

    def with_related(self, dialogs):
        return dialogs.select_related("client__customer_binding").prefetch_related(
            Prefetch(
                "handoff_requests",
                queryset=Request.objects.filter(status__in=Request.OPEN_STATUSES),
                to_attr="open_requests",
            )
        )

    def get_queryset(self):
        return self.with_related(self.base_queryset(self.chat_ids))

    @extend_schema(
        summary="List dialogs (the dialog viewer's filters), newest first",
        parameters=DIALOG_FILTER_PARAMETERS,
        responses=responses({200: DialogSerializer(many=True)}, 400),
    )
    def list(self, request, *args, **kwargs):
        filters = DialogFilters.from_query(request.query_params)
        if filters.errors:
            raise exceptions.ValidationError({k: [v] for k, v in filters.errors.items()})
        chat_ids = self.chat_ids
        if filters.chat_ids:
            chat_ids = chat_ids & set(filters.chat_ids)
        dialogs = self.with_related(dialogs_filtered(chat_ids=chat_ids, filters=filters))
        return self.paginated(dialogs, DialogSerializer)

    @extend_schema(
        summary="A dialog by its session id", responses=responses({200: DialogSerializer}, 404)
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        methods=["GET"],
        summary="A dialog's messages, oldest first (cursor by sequence)",
        request=None,
        responses=responses({200: MessageSerializer(many=True)}, 400, 404),
    )
    @extend_schema(
        methods=["POST"],
        summary="Post a message into the dialog (as the bot, named after the key)",
        request=MessagePostSerializer,
        responses=responses(
            {
                201: MessageSerializer,
                200: OpenApiResponse(
                    MessageSerializer, description="Already posted with this client_message_id."
                ),
            },
            400,
            404,
            extra=CONFLICT,
        ),
    )
    @action(detail=True, methods=["get", "post"])
    def messages(self, request, session_id=None):
        dialog = self.get_object()
        if request.method == "GET":
            messages = Message.objects.filter(dialog=dialog)
            return self.paginated(messages, MessageSerializer, paginator=MessageCursorPagination())
        serializer = MessagePostSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client_message_id = serializer.validated_data.get("client_message_id")
        message, created = message_post(
            dialog=dialog,
            author_kind=AuthorKind.BOT,
            author_name=self.key.name,
            text=serializer.validated_data["text"],
            # per key, so two integrations never share an id; "/" is in no client's id
            client_msg_id=f"api{self.key.pk}/{client_message_id}" if client_message_id else None,
        )
        return Response(
            MessageSerializer(message).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


# --- requests for a person ----------------------------------------------------------


class RequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Requests belong to the dialogs part of the API (dialogs:read / dialogs:write)."""

    scope_area = "dialogs"
    serializer_class = RequestSerializer
    pagination_class = RequestCursorPagination

    def get_queryset(self):
        return Request.objects.filter(chat_id__in=self.chat_ids).select_related(
            "dialog", "operator"
        )

    @extend_schema(
        summary="List requests, newest first",
        parameters=[
            OpenApiParameter("status", str, enum=RequestStatus.values),
            OpenApiParameter("dialog", str, description="A dialog's session id."),
        ],
        responses=responses({200: RequestSerializer(many=True)}, 400),
    )
    def list(self, request, *args, **kwargs):
        requests = self.get_queryset()
        wanted = request.query_params.get("status")
        if wanted is not None:
            if wanted not in RequestStatus.values:
                raise exceptions.ValidationError({"status": [_("Unknown status.")]})
            requests = requests.filter(status=wanted)
        session_id = request.query_params.get("dialog")
        if session_id is not None:
            if len(session_id) != 32 or not all(c in "0123456789abcdef" for c in session_id):
                raise exceptions.ValidationError({"dialog": [_("Unknown dialog.")]})
            requests = requests.filter(dialog__session_id=session_id)
        return self.paginated(requests, RequestSerializer)

    @extend_schema(summary="A request", responses=responses({200: RequestSerializer}, 404))
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Ask for a person in a dialog (reason: api)",
        request=RequestOpenSerializer,
        responses=responses(
            {
                201: RequestSerializer,
                200: OpenApiResponse(RequestSerializer, description="Already open: that one."),
            },
            400,
            extra={
                202: OpenApiResponse(
                    NotOpenedSerializer,
                    description=(
                        "No request yet (code not_opened): it is outside working hours "
                        "(the client was told the hours), or the client is shown the "
                        "pre-handoff form (the request opens when they answer)."
                    ),
                ),
                409: OpenApiResponse(ErrorSerializer, description="The dialog is closed."),
            },
        ),
    )
    def create(self, request, *args, **kwargs):
        serializer = RequestOpenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dialog = Dialog.objects.filter(
            session_id=serializer.validated_data["dialog"], chat_id__in=self.chat_ids
        ).first()
        if dialog is None:
            raise exceptions.ValidationError({"dialog": [_("Unknown dialog.")]})
        already = Request.objects.filter(dialog=dialog, status__in=Request.OPEN_STATUSES).first()
        opened = request_open(dialog=dialog, reason=RequestReason.API)
        if opened is None:
            return Response(
                {
                    "detail": _(
                        "No request was opened: it is outside working hours, or the "
                        "client is shown the form to answer first."
                    ),
                    "code": "not_opened",
                },
                status=status.HTTP_202_ACCEPTED,
            )
        reopened = already is not None and already.pk == opened.pk
        return Response(
            RequestSerializer(Request.objects.select_related("dialog").get(pk=opened.pk)).data,
            status=status.HTTP_200_OK if reopened else status.HTTP_201_CREATED,
        )

    def _done(self, request_row: Request) -> Response:
        fresh = Request.objects.select_related("dialog").get(pk=request_row.pk)
        return Response(RequestSerializer(fresh).data)

    @extend_schema(
        summary="Accept the request on behalf of a manager",
        request=RequestAcceptSerializer,
        responses=responses({200: RequestSerializer}, 400, 404, extra=CONFLICT),
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        request_row = self.get_object()
        serializer = RequestAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        operator = _manager_of_key(self, serializer.validated_data["operator"])
        return self._done(request_accept(request=request_row, operator=operator))

    @extend_schema(
        summary="Close the request (the dialog goes back to the bot)",
        request=None,
        responses=responses({200: RequestSerializer}, 404, extra=CONFLICT),
    )
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        request_row = self.get_object()
        return self._done(request_close(request=request_row, reason=CloseReason.OPERATOR))

    @extend_schema(
        summary="Transfer an accepted request to another manager, or back to the bot",
        request=RequestTransferSerializer,
        responses=responses({200: RequestSerializer}, 400, 404, extra=CONFLICT),
    )
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        request_row = self.get_object()
        serializer = RequestTransferSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        target = None
        if data["to"] == TransferTarget.MANAGER:
            target = _manager_of_key(self, data["operator"])
        if request_row.status != RequestStatus.ACCEPTED or request_row.operator is None:
            raise Conflict(_("Only an accepted request can be transferred."), code="not_accepted")
        try:
            done = request_transfer(
                request=request_row,
                operator=request_row.operator,
                to_operator=target,
                reason=data["reason"],
            )
        except NotYourRequest:  # another manager took it over meanwhile
            raise Conflict(
                _("The request changed hands meanwhile: read it again."), code="changed"
            ) from None
        return self._done(done)


# --- customers ----------------------------------------------------------------------


class CustomerViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ApiViewSet
):
    """Customers bound to a client of one of the key's chats: a customer is one person
    across chats, so it is visible to every key that has one of its clients' chats."""

    scope_area = "customers"
    serializer_class = CustomerSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        chat_ids = self.chat_ids
        return (
            Customer.objects.filter(
                pk__in=CustomerBinding.objects.filter(client__chat_id__in=chat_ids).values(
                    "customer_id"
                )
            )
            .prefetch_related(
                Prefetch(
                    "bindings",
                    queryset=CustomerBinding.objects.select_related("client__customer_binding"),
                )
            )
            .order_by("id")
        )

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "chat_ids": self.chat_ids}

    @extend_schema(
        summary="List customers",
        parameters=[
            OpenApiParameter("phone", str, description="Exactly this phone (E.164, +7912…)."),
            OpenApiParameter("email", str, description="This e-mail (any case)."),
        ],
        responses=responses({200: CustomerSerializer(many=True)}, 400),
    )
    def list(self, request, *args, **kwargs):
        customers = self.get_queryset()
        phone = request.query_params.get("phone")
        if phone is not None:
            customers = customers.filter(phone=_query_text(phone, "phone", 40))
        email = request.query_params.get("email")
        if email is not None:
            customers = customers.filter(email=normalise_email(_query_text(email, "email", 254)))
        return self.paginated(customers, CustomerSerializer)

    @extend_schema(summary="A customer", responses=responses({200: CustomerSerializer}, 404))
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Bind a client to the customer with this phone or e-mail (made if none)",
        request=CustomerCreateSerializer,
        responses=responses({201: CustomerSerializer}, 400, extra=CONFLICT),
    )
    def create(self, request, *args, **kwargs):
        serializer = CustomerCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        client = _client_of_key(self, data["client"])
        bound = CustomerBinding.objects.filter(client=client)
        was_bound_to = bound.values_list("customer_id", flat=True).first()
        customer = customer_bind(
            client=client,
            name=data.get("name", ""),
            phone=data.get("phone", ""),
            email=data.get("email", ""),
        )
        if customer is None:  # the chat's distribution settings bind or create no customers
            raise Conflict(
                _("This chat's settings do not bind clients to customers (or create them)."),
                code="not_bound",
            )
        body = self._fresh(customer.pk)
        if customer.pk != was_bound_to and self._known_only_elsewhere(customer.pk, client):
            # matched by phone or e-mail to a customer this key could not see: the key
            # learns its id, and nothing it did not send (no oracle for other chats' data)
            body = {
                "id": customer.pk,
                "name": data.get("name", "").strip(),
                "phone": data.get("phone", "").strip(),
                "email": data.get("email", "").strip(),
                "clients": body["clients"],
            }
        return Response(body, status=status.HTTP_201_CREATED)

    def _known_only_elsewhere(self, customer_id: int, client: Client) -> bool:
        """The customer has clients in chats outside this key's, and none in its chats
        but `client` (just bound): the key could not see it before."""
        bindings = CustomerBinding.objects.filter(customer_id=customer_id).exclude(client=client)
        return (
            bindings.exclude(client__chat_id__in=self.chat_ids).exists()
            and not bindings.filter(client__chat_id__in=self.chat_ids).exists()
        )

    @extend_schema(
        summary="Change a customer's name, phone or e-mail",
        request=CustomerUpdateSerializer,
        responses=responses({200: CustomerSerializer}, 400, 404),
    )
    def partial_update(self, request, *args, **kwargs):
        customer = self.get_object()
        serializer = CustomerUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer_update(
            customer=customer,
            name=data.get("name"),
            phone=data.get("phone"),
            email=data.get("email"),
        )
        return Response(self._fresh(customer.pk))

    @extend_schema(
        summary="Bind a client of this key's chats to this customer",
        request=CustomerBindSerializer,
        responses=responses({200: CustomerSerializer}, 400, 404),
    )
    @action(detail=True, methods=["post"])
    def clients(self, request, pk=None):
        customer = self.get_object()
        serializer = CustomerBindSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client = _client_of_key(self, serializer.validated_data["client"])
        customer_client_bind(customer=customer, client=client)
        return Response(self._fresh(customer.pk))

    def _fresh(self, pk: int) -> dict:
        customer = self.get_queryset().get(pk=pk)
        return CustomerSerializer(customer, context=self.get_serializer_context()).data


def _query_text(value: str, name: str, limit: int) -> str:
    if len(value) > limit or "\x00" in value or not value.isprintable():
        raise exceptions.ValidationError({name: [_("This value is not valid.")]})
    return value.strip()


# --- managers -----------------------------------------------------------------------


class ManagerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Managers serving at least one of the key's chats."""

    scope_area = "managers"
    serializer_class = ManagerSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        chat_ids = self.chat_ids
        return (
            # the load as the cap counts it (handoff.selectors.with_load)
            with_load(
                Operator.objects.filter(
                    pk__in=Operator.chats.through.objects.filter(chat_id__in=chat_ids).values(
                        "operator_id"
                    )
                )
            )
            .prefetch_related(
                Prefetch("chats", queryset=Chat.objects.only("pk")),
                Prefetch("channels", queryset=OperatorChannel.objects.all()),
            )
            .order_by("id")
        )

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "chat_ids": self.chat_ids}

    @extend_schema(
        summary="List managers with presence and load",
        responses=responses({200: ManagerSerializer(many=True)}, 400),
    )
    def list(self, request, *args, **kwargs):
        return self.paginated(self.get_queryset(), ManagerSerializer)

    @extend_schema(summary="A manager", responses=responses({200: ManagerSerializer}, 404))
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Set a manager's presence (online, away, offline)",
        request=PresenceSerializer,
        responses=responses({200: ManagerSerializer}, 400, 404),
    )
    def partial_update(self, request, *args, **kwargs):
        operator = self.get_object()
        serializer = PresenceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        operator_presence_set(operator=operator, presence=serializer.validated_data["presence"])
        return Response(
            ManagerSerializer(
                self.get_queryset().get(pk=operator.pk), context=self.get_serializer_context()
            ).data
        )


# --- reference data -----------------------------------------------------------------


class ChatViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """The key's chats and the channels clients reach them on."""

    scope_area = "reference"
    serializer_class = ChatSerializer

    def get_queryset(self):
        return Chat.objects.filter(pk__in=self.chat_ids).order_by("id")

    def _with_channels(self, chats: list[Chat]) -> list[Chat]:
        ids = [chat.pk for chat in chats]
        links = set(Chat.objects.filter(pk__in=ids).values_list("pk", "messenger_links__messenger"))
        telegram = set(
            Chat.objects.filter(pk__in=ids, telegram_bot__isnull=False).values_list("pk", flat=True)
        )
        for chat in chats:
            found = {Messenger.WEB.value}
            found |= {messenger for pk, messenger in links if pk == chat.pk and messenger}
            if chat.pk in telegram:
                found.add(Messenger.TELEGRAM.value)
            chat.api_channels = [value for value in Messenger.values if value in found]
        return chats

    @extend_schema(
        summary="List this key's chats with their channels",
        responses=responses({200: ChatSerializer(many=True)}, 400),
    )
    def list(self, request, *args, **kwargs):
        page = self.paginator.paginate_queryset(self.get_queryset(), request, view=self)
        data = ChatSerializer(self._with_channels(list(page)), many=True).data
        return self.paginator.get_paginated_response(data)

    @extend_schema(summary="A chat", responses=responses({200: ChatSerializer}, 404))
    def retrieve(self, request, *args, **kwargs):
        chat = self.get_object()
        return Response(ChatSerializer(self._with_channels([chat])[0]).data)


def not_found(request, *args, **kwargs) -> JsonResponse:
    """An address under /api/v1/ that is no endpoint."""
    detail = _("Not found.")
    if not request.path.endswith("/"):
        detail = _("Not found: the API's addresses end with a slash (/).")
    return JsonResponse({"detail": detail, "code": "not_found"}, status=404)
