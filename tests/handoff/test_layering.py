"""Issue 9's layering: the widget's socket is a surface above handoff and calls its
services directly; chats reaches up to handoff only where its own services must."""

import inspect

from chats.registries import HandoffHandler
from config.websocket_urls import websocket_urlpatterns


def test_the_widget_socket_lives_above_handoff():
    consumers = {
        str(pattern.pattern): pattern.callback.consumer_class.__module__
        for pattern in websocket_urlpatterns
    }

    assert consumers == {
        "ws/widget/<str:public_key>/": "handoff.widget_consumer",
        "ws/console/": "handoff.consumers",
    }


def test_chats_reaches_handoff_only_for_routing_the_scripts_mark_and_client_messages():
    calls = {
        name
        for name, member in inspect.getmembers(HandoffHandler, inspect.isfunction)
        if not name.startswith("_")
    }

    # issue 11: whether the chat's scripts answer (the channel may be routed elsewhere)
    assert calls == {"scripts_answer", "open_request", "client_wrote"}
