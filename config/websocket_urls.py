from django.urls import path

from handoff.consumers import ConsoleConsumer
from handoff.widget_consumer import WidgetConsumer

websocket_urlpatterns = [
    path("ws/widget/<str:public_key>/", WidgetConsumer.as_asgi()),
    path("ws/console/", ConsoleConsumer.as_asgi()),
]
