"""What the API returns and accepts. Read serializers take the key's chats from the
context (`chat_ids`) so nothing of another chat is ever listed inside an object."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.models import Chat, Client, Dialog, Message
from distributor.enums import Presence
from distributor.models import Customer, Operator
from distributor.services.api_bots import CLIENT_MESSAGE_ID_MAX, CLIENT_MESSAGE_ID_PATTERN
from handoff.enums import CloseReason, RequestReason, RequestStatus
from handoff.models import Request
from handoff.services import TRANSFER_REASON_MAX

MAX_ID = 2**63 - 1
MAX_MESSAGE_TEXT = 4096
MAX_CLIENT_MESSAGE_ID = CLIENT_MESSAGE_ID_MAX


def IdField(**kwargs) -> serializers.IntegerField:  # noqa: N802 - a field factory
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class ClientSerializer(serializers.ModelSerializer):
    customer = serializers.SerializerMethodField(help_text=_("The customer this client is."))

    class Meta:
        model = Client
        fields = ["id", "chat", "messenger", "external_id", "name", "customer"]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_customer(self, client: Client) -> int | None:
        binding = getattr(client, "customer_binding", None)
        return binding.customer_id if binding else None


class RequestSerializer(serializers.ModelSerializer):
    dialog = serializers.CharField(source="dialog.session_id", read_only=True)
    status = serializers.ChoiceField(choices=RequestStatus.choices, read_only=True)
    reason = serializers.ChoiceField(choices=RequestReason.choices, read_only=True)
    close_reason = serializers.ChoiceField(
        choices=[("", "open"), *CloseReason.choices], read_only=True
    )

    class Meta:
        model = Request
        fields = [
            "id",
            "dialog",
            "chat",
            "status",
            "reason",
            "operator",
            "offered_to",
            "created_at",
            "accepted_at",
            "closed_at",
            "close_reason",
        ]
        read_only_fields = fields


class OpenRequestSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=RequestStatus.choices, read_only=True)

    class Meta:
        model = Request
        fields = ["id", "status", "operator", "offered_to", "created_at", "accepted_at"]
        read_only_fields = fields


class DialogSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=DialogStatus.choices, read_only=True)
    messenger = serializers.ChoiceField(choices=Messenger.choices, read_only=True)
    client = ClientSerializer(read_only=True)
    request = serializers.SerializerMethodField(
        help_text=_("The open request for a person (pending, queued or accepted), if any.")
    )

    class Meta:
        model = Dialog
        fields = [
            "session_id",
            "chat",
            "messenger",
            "status",
            "started_at",
            "closed_at",
            "last_message_at",
            "client",
            "request",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenRequestSerializer(allow_null=True))
    def get_request(self, dialog: Dialog) -> dict | None:
        open_requests = getattr(dialog, "open_requests", None)
        if open_requests is None:
            open_requests = list(
                Request.objects.filter(dialog=dialog, status__in=Request.OPEN_STATUSES)
            )
        return OpenRequestSerializer(open_requests[0]).data if open_requests else None


class MessageSerializer(serializers.ModelSerializer):
    author_kind = serializers.ChoiceField(choices=AuthorKind.choices, read_only=True)

    class Meta:
        model = Message
        fields = [
            "sequence",
            "author_kind",
            "author_name",
            "text",
            "buttons",
            "attachments",
            "created_at",
        ]
        read_only_fields = fields


class MessagePostSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_MESSAGE_TEXT, trim_whitespace=False)
    client_message_id = serializers.RegexField(
        CLIENT_MESSAGE_ID_PATTERN,
        required=False,
        max_length=MAX_CLIENT_MESSAGE_ID,
        help_text=_(
            "Your id for this message (letters, digits, . _ : -; up to 48): sending it "
            "again returns the stored message and posts nothing."
        ),
    )

    def validate_text(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError(_("A message needs text."))
        return value


class ChatSerializer(serializers.ModelSerializer):
    channels = serializers.SerializerMethodField(
        help_text=_("The channels clients reach this chat on.")
    )

    class Meta:
        model = Chat
        fields = ["id", "name", "language", "channels"]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=Messenger.choices))
    )
    def get_channels(self, chat: Chat) -> list[str]:
        return chat.api_channels


class ManagerChannelSerializer(serializers.Serializer):
    chat = serializers.IntegerField()
    messenger = serializers.ChoiceField(choices=Messenger.choices)


class ManagerLoadSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text=_("Requests they hold now (accepted)."))
    offered = serializers.IntegerField(
        help_text=_("Requests offered to them now, waiting for their accept (automatic mode).")
    )
    capacity = serializers.IntegerField(help_text=_("Their maximum simultaneous dialogs."))
    ratio = serializers.FloatField(help_text=_("accepted / capacity."))


class ManagerSerializer(serializers.ModelSerializer):
    presence = serializers.ChoiceField(choices=Presence.choices, read_only=True)
    chats = serializers.SerializerMethodField(help_text=_("This key's chats they serve."))
    channels = serializers.SerializerMethodField(
        help_text=_("The channels they serve, per chat of this key; a chat with none listed: all.")
    )
    load = serializers.SerializerMethodField()

    class Meta:
        model = Operator
        fields = [
            "id",
            "display_name",
            "presence",
            "presence_expires_at",
            "chats",
            "channels",
            "load",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_chats(self, operator: Operator) -> list[int]:
        allowed = self.context["chat_ids"]
        return sorted(chat.pk for chat in operator.chats.all() if chat.pk in allowed)

    @extend_schema_field(ManagerChannelSerializer(many=True))
    def get_channels(self, operator: Operator) -> list[dict]:
        allowed = self.context["chat_ids"]
        return [
            {"chat": channel.chat_id, "messenger": channel.messenger}
            for channel in sorted(operator.channels.all(), key=lambda c: (c.chat_id, c.messenger))
            if channel.chat_id in allowed
        ]

    @extend_schema_field(ManagerLoadSerializer)
    def get_load(self, operator: Operator) -> dict:
        accepted = getattr(operator, "held", None)
        if accepted is None:
            accepted = Request.objects.filter(
                operator=operator, status=RequestStatus.ACCEPTED
            ).count()
        offered = getattr(operator, "offered", None)
        if offered is None:
            offered = Request.objects.filter(
                offered_to=operator, status__in=Request.WAITING_STATUSES
            ).count()
        capacity = operator.max_simultaneous_dialogs
        return {
            "accepted": accepted,
            "offered": offered,
            "capacity": capacity,
            "ratio": round(accepted / capacity, 3) if capacity else 0.0,
        }


class PresenceSerializer(serializers.Serializer):
    presence = serializers.ChoiceField(choices=Presence.choices)


class CustomerSerializer(serializers.ModelSerializer):
    clients = serializers.SerializerMethodField(help_text=_("Its clients in this key's chats."))

    class Meta:
        model = Customer
        fields = ["id", "name", "phone", "email", "created_at", "clients"]
        read_only_fields = fields

    @extend_schema_field(ClientSerializer(many=True))
    def get_clients(self, customer: Customer) -> list[dict]:
        allowed = self.context["chat_ids"]
        clients = [
            binding.client
            for binding in customer.bindings.all()
            if binding.client.chat_id in allowed
        ]
        return ClientSerializer(sorted(clients, key=lambda c: c.pk), many=True).data


class ContactFieldsMixin(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)


class CustomerCreateSerializer(ContactFieldsMixin):
    client = IdField(help_text=_("The client (of one of this key's chats) who is this customer."))


class CustomerUpdateSerializer(ContactFieldsMixin):
    pass


class CustomerBindSerializer(serializers.Serializer):
    client = IdField(help_text=_("The client (of one of this key's chats) to bind."))


class RequestOpenSerializer(serializers.Serializer):
    dialog = serializers.RegexField(
        r"^[0-9a-f]{32}$", help_text=_("The dialog's session id."), max_length=32
    )


class RequestAcceptSerializer(serializers.Serializer):
    operator = IdField(help_text=_("The manager who takes the request."))


class TransferTarget:
    MANAGER = "manager"
    BOT = "bot"


class RequestTransferSerializer(serializers.Serializer):
    to = serializers.ChoiceField(
        choices=[(TransferTarget.MANAGER, "manager"), (TransferTarget.BOT, "bot")],
        help_text=_("To another manager, or back to the bot."),
    )
    operator = IdField(required=False, help_text=_("The manager (when `to` is manager)."))
    reason = serializers.CharField(
        max_length=TRANSFER_REASON_MAX,
        help_text=_("Why (recorded with the request's events)."),
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["to"] == TransferTarget.MANAGER and not attrs.get("operator"):
            raise serializers.ValidationError({"operator": [_("Name the manager.")]})
        if attrs["to"] == TransferTarget.BOT and attrs.get("operator"):
            raise serializers.ValidationError(
                {"operator": [_("A transfer to the bot names no manager.")]}
            )
        return attrs


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(required=False)


class NotOpenedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=[("not_opened", "not_opened")])
