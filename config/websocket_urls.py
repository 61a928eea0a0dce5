from django.urls import path

from chats.consumers import WidgetConsumer
from handoff.consumers import ConsoleConsumer

websocket_urlpatterns = [
    path("ws/widget/<str:public_key>/", WidgetConsumer.as_asgi()),
    path("ws/console/", ConsoleConsumer.as_asgi()),
]
