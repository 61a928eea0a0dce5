"""load_demo gives the demo chat its distribution: broadcast, Italian phone numbers,
Olga on the widget and Telegram, Telegram routed to the chat's scripts; running it
again changes nothing (edits made in Admin survive)."""

import io

import pytest
from django.core.management import call_command

from chats.models import Chat
from chats.views import DEMO_PUBLIC_KEY
from distributor.models import ChatDistribution, OperatorChannel, RoutingRule

pytestmark = pytest.mark.django_db


def load_demo() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def test_the_demo_chat_has_its_distribution_settings():
    output = load_demo()

    chat = Chat.objects.get(public_key=DEMO_PUBLIC_KEY)
    distribution = ChatDistribution.objects.get(chat=chat)
    assert (distribution.mode, distribution.phone_region) == ("broadcast", "IT")
    distribution.full_clean()
    assert sorted(
        OperatorChannel.objects.filter(chat=chat).values_list("operator__display_name", "messenger")
    ) == [("Olga", "telegram"), ("Olga", "web")]
    assert list(RoutingRule.objects.values_list("messenger", "target", "api_bot")) == [
        ("telegram", "bot", None)
    ]
    assert output.startswith("demo chat created: Demo shop assistant")


def test_loading_again_keeps_what_an_admin_changed():
    load_demo()
    ChatDistribution.objects.update(mode="automatic")
    OperatorChannel.objects.filter(messenger="telegram").delete()

    output = load_demo()

    assert "already there" in output
    assert ChatDistribution.objects.get().mode == "automatic"
    assert list(OperatorChannel.objects.values_list("messenger", flat=True)) == ["web"]
    assert RoutingRule.objects.count() == 1
