"""The API bots' endpoints (registration, own settings, replies, handoff, close):
handoff.api.bots."""

from django.urls import path

from handoff.api import bots

urlpatterns = [
    path("bots/", bots.BotRegisterView.as_view(), name="bot-register"),
    path("bots/me/", bots.BotSelfView.as_view(), name="bot-self"),
    path(
        "bots/dialogs/<str:session_id>/messages/",
        bots.BotReplyView.as_view(),
        name="bot-dialog-messages",
    ),
    path(
        "bots/dialogs/<str:session_id>/handoff/",
        bots.BotHandoffView.as_view(),
        name="bot-dialog-handoff",
    ),
    path(
        "bots/dialogs/<str:session_id>/close/",
        bots.BotCloseView.as_view(),
        name="bot-dialog-close",
    ),
]
