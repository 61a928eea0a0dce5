"""API bots' endpoints (/api/v1/bots/…): an integration registers a bot (its key needs
managers:write); the bot, with the key it got, reads and changes its own settings and
answers, hands off or closes the dialogs it holds. A dialog the bot does not hold (not
routed to it, another bot's, handed off, released) is a 404; one it held that is no longer
its own (a person has it, its channel re-routed) is a 409 and released then (the bot is
told: dialog.released). A bot's key works only here: elsewhere in the API it is a 403."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import override
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from chats.services import DialogClosed, dialog_close
from distributor.models import ApiBot
from distributor.services.api_bots import (
    CLIENT_MESSAGE_ID_MAX,
    CLIENT_MESSAGE_ID_PATTERN,
    BotDialogNoLongerHeld,
    BotDialogNotFound,
    api_bot_delete,
    api_bot_dialog_get,
    api_bot_register,
    api_bot_release,
    api_bot_reply,
    api_bot_update,
    bot_message_payload,
)
from distributor.services.api_keys import api_key_bot
from handoff.api.base import ApiView, Conflict
from handoff.api.permissions import chat_ids_for_key
from handoff.enums import RequestReason
from handoff.services import request_open


def _bad_input(error: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(error, "error_dict"):
        return exceptions.ValidationError(error.message_dict)
    return exceptions.ValidationError({"detail": error.messages})


def _checked(serializer_class: type[serializers.Serializer], data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def bot_payload(bot: ApiBot) -> dict:
    return {
        "id": bot.pk,
        "name": bot.name,
        "webhook_url": bot.webhook_url,
        "capacity": bot.capacity,
        "is_active": bot.is_active,
        "chats": sorted(bot.api_key.chats.values_list("pk", flat=True)),
        "key_prefix": bot.api_key.prefix,
    }


class BotRegisterInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    webhook_url = serializers.CharField(max_length=1000)
    chats = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=1000
    )
    capacity = serializers.IntegerField(min_value=1, max_value=100_000, default=100)


class BotUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    webhook_url = serializers.CharField(max_length=1000, required=False)
    capacity = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    is_active = serializers.BooleanField(required=False)


class BotOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    webhook_url = serializers.CharField()
    capacity = serializers.IntegerField()
    is_active = serializers.BooleanField()
    chats = serializers.ListField(child=serializers.IntegerField())
    key_prefix = serializers.CharField()


class BotRegisteredOutput(BotOutput):
    api_key = serializers.CharField(help_text="The bot's own API key: shown this once.")
    signing_secret = serializers.CharField(
        help_text="Verifies X-Baton-Signature on every webhook: shown this once."
    )


class ButtonInput(serializers.Serializer):
    text = serializers.CharField(max_length=100)
    payload = serializers.CharField(max_length=64, required=False)
    url = serializers.CharField(max_length=2000, required=False)


class ReplyInput(serializers.Serializer):
    text = serializers.CharField(max_length=4000, trim_whitespace=False)
    buttons = ButtonInput(many=True, required=False, max_length=10)
    client_message_id = serializers.RegexField(
        CLIENT_MESSAGE_ID_PATTERN,
        max_length=CLIENT_MESSAGE_ID_MAX,
        required=False,
        help_text=(
            f"Your id for this reply (letters, digits, . _ : -; up to {CLIENT_MESSAGE_ID_MAX}):"
            " sending it again returns the stored message and posts nothing."
        ),
    )


MessageOutput = inline_serializer(
    "BotMessage",
    fields={
        "id": serializers.IntegerField(),
        "sequence": serializers.IntegerField(),
        "author_kind": serializers.CharField(),
        "author_name": serializers.CharField(),
        "text": serializers.CharField(),
        "buttons": serializers.ListField(child=serializers.DictField()),
        "attachments": serializers.ListField(child=serializers.DictField()),
        "created_at": serializers.DateTimeField(),
        "client_msg_id": serializers.CharField(allow_null=True),
    },
)


Problem = inline_serializer("BotProblem", fields={"detail": serializers.CharField()})
HandoffOutput = inline_serializer(
    "BotHandoff",
    fields={
        "request": inline_serializer(
            "BotHandoffRequest",
            fields={
                "id": serializers.IntegerField(),
                "status": serializers.CharField(),
                "reason": serializers.CharField(),
            },
            allow_null=True,
        ),
        "detail": serializers.CharField(required=False),
    },
)
CloseOutput = inline_serializer(
    "BotClose",
    fields={"closed": serializers.BooleanField(), "session_id": serializers.CharField()},
)


class BotRegisterView(ApiView):
    """Register an API bot. The calling key needs managers:write (a bot takes dialogs
    that managers would otherwise take) and may give the bot only its own chats."""

    scope_area = "managers"

    @extend_schema(
        request=BotRegisterInput,
        responses={
            201: BotRegisteredOutput,
            400: OpenApiResponse(description="bad input: the fields' errors"),
        },
        tags=["bots"],
    )
    def post(self, request):
        data = _checked(BotRegisterInput, request.data)
        try:
            bot, token, secret = api_bot_register(key=request.auth, **data)
        except DjangoValidationError as error:
            raise _bad_input(error) from None
        return Response(
            {**bot_payload(bot), "api_key": token, "signing_secret": secret},
            status=status.HTTP_201_CREATED,
        )


class BotKeyView(ApiView):
    """Views a bot calls with its own key (scope dialogs)."""

    scope_area = "dialogs"
    bot_key_allowed = True

    def own_bot(self) -> ApiBot:
        bot = api_key_bot(self.request.auth)
        if bot is None:
            raise exceptions.NotFound(_("This key is not an API bot's key."))
        return bot

    def held_dialog(self, bot: ApiBot, session_id: str):
        try:
            dialog = api_bot_dialog_get(bot=bot, session_id=session_id)
        except BotDialogNotFound:
            raise exceptions.NotFound(_("This bot holds no such dialog.")) from None
        except BotDialogNoLongerHeld:
            raise Conflict(
                _(
                    "This dialog is no longer the bot's (a person has it, or its channel "
                    "is no longer routed to the bot); the bot was released from it."
                ),
                code="not_held",
            ) from None
        if dialog.chat_id not in chat_ids_for_key(self.request.auth):
            raise exceptions.NotFound(_("This bot holds no such dialog."))
        return dialog


class BotSelfView(BotKeyView):
    """The calling bot's own settings: read, change (webhook, capacity, active, name),
    delete (its key is revoked)."""

    @extend_schema(responses={200: BotOutput, 404: Problem}, tags=["bots"])
    def get(self, request):
        return Response(bot_payload(self.own_bot()))

    @extend_schema(
        request=BotUpdateInput,
        responses={
            200: BotOutput,
            400: OpenApiResponse(description="bad input: the fields' errors"),
            404: Problem,
        },
        tags=["bots"],
    )
    def patch(self, request):
        bot = self.own_bot()
        data = _checked(BotUpdateInput, request.data)
        try:
            api_bot_update(bot=bot, **data)
        except DjangoValidationError as error:
            raise _bad_input(error) from None
        return Response(bot_payload(bot))

    @extend_schema(responses={204: None, 404: Problem}, tags=["bots"])
    def delete(self, request):
        api_bot_delete(bot=self.own_bot())
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotReplyView(BotKeyView):
    """Post the bot's message to the client, with optional buttons. Idempotent on
    client_message_id: a repeat returns the stored message with 200 (201 when made)."""

    @extend_schema(
        request=ReplyInput,
        responses={
            201: MessageOutput,
            200: OpenApiResponse(MessageOutput, description="a repeated client_message_id"),
            400: OpenApiResponse(description="bad input: the fields' errors"),
            404: Problem,
            409: Problem,
        },
        tags=["bots"],
    )
    def post(self, request, session_id: str):
        bot = self.own_bot()
        dialog = self.held_dialog(bot, session_id)
        data = _checked(ReplyInput, request.data)
        try:
            message, created = api_bot_reply(
                bot=bot,
                dialog=dialog,
                text=data["text"],
                buttons=[dict(button) for button in data.get("buttons", [])],
                client_message_id=data.get("client_message_id"),
            )
        except DjangoValidationError as error:
            raise _bad_input(error) from None
        except DialogClosed:
            raise Conflict(_("The dialog is closed."), code="dialog_closed") from None
        return Response(
            bot_message_payload(message),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class BotHandoffView(BotKeyView):
    """Hand the dialog to a person: a request opens (reason bot_handoff) and the bot no
    longer holds the dialog (201). Outside working hours, or while the chat's pre-handoff
    form waits for the client's answers, no request opens yet (202): the client was
    told; the bot keeps the dialog until a request opens from the form."""

    @extend_schema(
        request=None,
        responses={201: HandoffOutput, 202: HandoffOutput, 404: Problem, 409: Problem},
        tags=["bots"],
    )
    def post(self, request, session_id: str):
        bot = self.own_bot()
        dialog = self.held_dialog(bot, session_id)
        try:
            with transaction.atomic():
                opened = request_open(dialog=dialog, reason=RequestReason.BOT_HANDOFF)
                if opened is not None:
                    api_bot_release(dialog=dialog)
        except DialogClosed:
            raise Conflict(_("The dialog is closed."), code="dialog_closed") from None
        if opened is None:
            return Response(
                {
                    "request": None,
                    "detail": _(
                        "No request opened yet: outside working hours, or the client "
                        "was asked to fill in the pre-handoff form first."
                    ),
                },
                status=status.HTTP_202_ACCEPTED,
            )
        return Response(
            {"request": {"id": opened.pk, "status": opened.status, "reason": opened.reason}},
            status=status.HTTP_201_CREATED,
        )


class BotCloseView(BotKeyView):
    """End the dialog: the client is told the chat has ended; their next message starts
    a new dialog. 409 when a person has the dialog now."""

    @extend_schema(
        request=None, responses={200: CloseOutput, 404: Problem, 409: Problem}, tags=["bots"]
    )
    def post(self, request, session_id: str):
        bot = self.own_bot()
        dialog = self.held_dialog(bot, session_id)
        with override(dialog.chat.language):
            notice = _("The chat has ended.")
        with transaction.atomic():
            closed = dialog_close(dialog=dialog, notice=notice)
            if closed:
                api_bot_release(dialog=dialog)
        if not closed:
            raise Conflict(_("A person has this dialog now; it was not closed."), code="not_closed")
        return Response({"closed": True, "session_id": dialog.session_id})
