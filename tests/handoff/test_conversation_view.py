"""The console's conversation view, read and written without a socket: the visitor's
side panel (handoff.selectors_conversation) and private notes
(handoff.services.conversation_note_add)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from chats.enums import Messenger
from chats.models import MarkerHit, PageVisit
from distributor.models import CustomerBinding, OperatorChannel
from handoff.enums import CloseReason
from handoff.models import ConversationNote, Request
from handoff.selectors_conversation import (
    PANEL_ITEMS,
    conversation_notes,
    request_get_for_conversation,
    visitor_panel,
)
from handoff.services import (
    NotYourRequest,
    conversation_note_add,
    request_accept,
    request_close,
    request_open,
    request_reject,
)
from handoff.visitors import client_alias
from tests.chats.factories import ChatFactory, ClientFactory, DialogFactory
from tests.distributor.factories import CustomerFactory, OperatorFactory

pytestmark = pytest.mark.django_db


def conversation(chat, client=None, *, operator=None):
    """A request of a new dialog of `client` (a new web client by default), accepted by
    `operator` when given."""
    dialog = DialogFactory(client=client or ClientFactory(chat=chat))
    request = request_open(dialog=dialog, reason="headset")
    if operator is not None:
        request = request_accept(request=request, operator=operator)
    return request


def closed(request: Request, operator=None) -> Request:
    request = request_close(request=request, reason=CloseReason.OPERATOR, actor=operator)
    request.dialog.status = "closed"
    request.dialog.save(update_fields=["status"])
    return request


@pytest.fixture
def world():
    chat = ChatFactory(name="Shop")
    olga = OperatorFactory(display_name="Olga", chats=[chat])
    ivan = OperatorFactory(display_name="Ivan", chats=[chat])
    client = ClientFactory(chat=chat, name="Ann Example")
    # two earlier conversations of the client: one Olga had, one nobody took
    first = closed(conversation(chat, client, operator=olga), olga)
    unheld = closed(conversation(chat, client))
    current = conversation(chat, client, operator=olga)
    return {
        "chat": chat,
        "olga": olga,
        "ivan": ivan,
        "client": client,
        "first": first,
        "unheld": unheld,
        "current": current,
    }


# --- the panel ---------------------------------------------------------------------


def test_the_panel_shows_the_customer_channel_pages_markers_answers_and_history(world):
    # given: the client bound to a customer, with pages, markers and form answers
    current, client = world["current"], world["client"]
    customer = CustomerFactory(name="Ann E.", phone="+393331234567", email="ann@example.com")
    CustomerBinding.objects.create(client=client, customer=customer)
    now = timezone.now()
    PageVisit.objects.create(
        dialog=world["first"].dialog,
        url="https://shop.example/a",
        title="A",
        visited_at=now - timedelta(hours=2),
    )
    PageVisit.objects.create(
        dialog=current.dialog, url="https://shop.example/b", title="B", visited_at=now
    )
    MarkerHit.objects.create(dialog=current.dialog, marker="asked_price")
    Request.objects.filter(pk=current.pk).update(
        form_answers=[{"label": "Topic", "value": "Billing"}]
    )
    # when
    panel = visitor_panel(operator=world["olga"], request_id=current.pk)
    # then
    assert panel["request"] == current.pk
    assert panel["client"]["name"] == "Ann Example"
    assert (panel["client"]["channel"], panel["client"]["channel_label"]) == ("web", "Web")
    assert panel["customer"] == {
        "name": "Ann E.",
        "phone": "+393331234567",
        "email": "ann@example.com",
    }
    assert panel["form_answers"] == [{"label": "Topic", "value": "Billing"}]
    assert [page["url"] for page in panel["pages"]] == [
        "https://shop.example/b",
        "https://shop.example/a",
    ]
    assert [hit["marker"] for hit in panel["markers"]] == ["asked_price"]
    previous = panel["previous"]
    assert [item["id"] for item in previous] == [world["unheld"].pk, world["first"].pk]
    assert previous[1]["operator"] == "Olga"
    assert previous[1]["chat"] == "Shop"
    assert previous[1]["status"] == "closed"
    assert all(item["link"] for item in previous)


def test_a_client_without_customer_or_history_has_an_empty_panel():
    chat = ChatFactory()
    olga = OperatorFactory(chats=[chat])
    request = conversation(chat, operator=olga)
    panel = visitor_panel(operator=olga, request_id=request.pk)
    assert panel["customer"] is None
    assert (panel["pages"], panel["markers"], panel["previous"]) == ([], [], [])


def test_a_telegram_client_shows_its_channel():
    chat = ChatFactory()
    olga = OperatorFactory(chats=[chat])
    client = ClientFactory(chat=chat, messenger=Messenger.TELEGRAM, name="Marco")
    request = conversation(chat, client, operator=olga)
    panel = visitor_panel(operator=olga, request_id=request.pk)
    assert (panel["client"]["channel"], panel["client"]["channel_label"]) == (
        "telegram",
        "Telegram",
    )


def test_an_earlier_conversation_the_operator_may_not_open_is_listed_without_a_link(world):
    # given: Olga now serves only Telegram in the chat: the web request nobody took is
    # no longer hers to see (the one she held still is)
    OperatorChannel.objects.create(
        operator=world["olga"], chat=world["chat"], messenger=Messenger.TELEGRAM
    )
    # when
    panel = visitor_panel(operator=world["olga"], request_id=world["current"].pk)
    # then
    links = {item["id"]: item["link"] for item in panel["previous"]}
    assert links == {world["unheld"].pk: False, world["first"].pk: True}


def test_other_clients_conversations_are_not_in_the_panel(world):
    other = conversation(world["chat"], operator=world["ivan"])
    closed(other, world["ivan"])
    panel = visitor_panel(operator=world["olga"], request_id=world["current"].pk)
    assert other.pk not in [item["id"] for item in panel["previous"]]


def test_the_panel_lists_at_most_its_limit_latest_first():
    chat = ChatFactory()
    olga = OperatorFactory(chats=[chat])
    client = ClientFactory(chat=chat)
    request = conversation(chat, client, operator=olga)
    now = timezone.now()
    PageVisit.objects.bulk_create(
        PageVisit(
            dialog=request.dialog,
            url=f"https://shop.example/{number}",
            visited_at=now - timedelta(minutes=number),
        )
        for number in range(PANEL_ITEMS + 5)
    )
    panel = visitor_panel(operator=olga, request_id=request.pk)
    assert len(panel["pages"]) == PANEL_ITEMS
    assert panel["pages"][0]["url"] == "https://shop.example/0"


def test_the_panel_costs_the_same_few_queries_however_long_the_history(
    world, django_assert_max_num_queries
):
    # given: a long history (pages, markers, earlier conversations)
    client, current = world["client"], world["current"]
    CustomerBinding.objects.create(client=client, customer=CustomerFactory())
    PageVisit.objects.bulk_create(
        PageVisit(dialog=current.dialog, url=f"https://shop.example/{n}") for n in range(60)
    )
    MarkerHit.objects.bulk_create(
        MarkerHit(dialog=current.dialog, marker=f"m{n}") for n in range(60)
    )
    # then: the panel and the notes in a fixed number of statements
    with django_assert_max_num_queries(8):
        panel = visitor_panel(operator=world["olga"], request_id=current.pk)
        conversation_notes(request_id=current.pk)
    assert len(panel["pages"]) == PANEL_ITEMS


def test_another_operators_request_has_no_panel_for_me(world):
    # given: Ivan's conversation with another client of the same chat
    ivans = conversation(world["chat"], operator=world["ivan"])
    # then: Olga gets nothing of it, as for a request that does not exist
    with pytest.raises(Request.DoesNotExist):
        visitor_panel(operator=world["olga"], request_id=ivans.pk)


def test_a_request_of_a_chat_i_do_not_serve_has_no_panel_for_me(world):
    foreign = conversation(ChatFactory())
    with pytest.raises(Request.DoesNotExist):
        visitor_panel(operator=world["olga"], request_id=foreign.pk)


@pytest.mark.parametrize("request_id", [0, -1, "1", None, True, 2**70])
def test_a_malformed_request_id_has_no_panel(world, request_id):
    with pytest.raises(Request.DoesNotExist):
        visitor_panel(operator=world["olga"], request_id=request_id)


def test_a_waiting_request_i_rejected_has_no_panel_for_me(world):
    waiting = conversation(world["chat"])
    request_reject(request=waiting, operator=world["olga"])
    with pytest.raises(Request.DoesNotExist):
        request_get_for_conversation(operator=world["olga"], request_id=waiting.pk)
    assert visitor_panel(operator=world["ivan"], request_id=waiting.pk)["request"] == waiting.pk


# --- notes ---------------------------------------------------------------------------


def test_a_note_is_stored_once_per_client_msg_id(world, django_capture_on_commit_callbacks):
    current = world["current"]
    with django_capture_on_commit_callbacks() as callbacks:
        note, created = conversation_note_add(
            request_id=current.pk, operator=world["olga"], text="VIP, be nice", client_msg_id="n1"
        )
    again, created_again = conversation_note_add(
        request_id=current.pk, operator=world["olga"], text="VIP, be nice", client_msg_id="n1"
    )
    assert (created, created_again) == (True, False)
    assert again.pk == note.pk
    assert ConversationNote.objects.count() == 1
    assert (note.author, note.author_name, note.text) == (world["olga"], "Olga", "VIP, be nice")
    # published once, after commit
    assert len(callbacks) == 1
    assert [item["text"] for item in conversation_notes(request_id=current.pk)] == ["VIP, be nice"]


def test_another_operators_note_id_is_refused(world):
    waiting = conversation(world["chat"])
    conversation_note_add(
        request_id=waiting.pk, operator=world["olga"], text="mine", client_msg_id="same"
    )
    with pytest.raises(NotYourRequest):
        conversation_note_add(
            request_id=waiting.pk, operator=world["ivan"], text="his", client_msg_id="same"
        )
    assert list(ConversationNote.objects.values_list("text", flat=True)) == ["mine"]


def test_a_note_on_a_request_i_may_not_open_is_refused(world):
    ivans = conversation(world["chat"], operator=world["ivan"])
    with pytest.raises(Request.DoesNotExist):
        conversation_note_add(
            request_id=ivans.pk, operator=world["olga"], text="peek", client_msg_id="n1"
        )
    assert ConversationNote.objects.count() == 0


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "blank"),
        ("   \n", "blank"),
        (None, "blank"),
        (12, "blank"),
        ("x" * 2001, "too_long"),
        ("a\ud800b", "unencodable"),
        ("a\x00b", "unencodable"),
    ],
)
def test_bad_note_text_is_refused_and_nothing_is_stored(world, text, code):
    with pytest.raises(ValidationError) as refused:
        conversation_note_add(
            request_id=world["current"].pk, operator=world["olga"], text=text, client_msg_id="n1"
        )
    assert refused.value.code == code
    assert ConversationNote.objects.count() == 0


def test_a_note_of_two_thousand_characters_is_stored(world):
    note, created = conversation_note_add(
        request_id=world["current"].pk, operator=world["olga"], text="x" * 2000, client_msg_id="n"
    )
    assert created
    assert len(note.text) == 2000


def test_notes_are_not_messages(world):
    current = world["current"]
    before = current.dialog.messages.count()
    conversation_note_add(
        request_id=current.pk, operator=world["olga"], text="internal", client_msg_id="n1"
    )
    current.dialog.refresh_from_db()
    assert current.dialog.messages.count() == before
    assert not current.dialog.messages.filter(text="internal").exists()


# --- the Admin: read-only ----------------------------------------------------------------


def test_the_admin_shows_notes_read_only_and_escaped(world, admin_client):
    current = world["current"]
    conversation_note_add(
        request_id=current.pk, operator=world["olga"], text="Be <b>kind</b>", client_msg_id="n1"
    )
    request_page = admin_client.get(f"/admin/handoff/request/{current.pk}/change/")
    dialog_page = admin_client.get(f"/admin/chats/dialog/{current.dialog_id}/change/")
    for page in (request_page, dialog_page):
        content = page.content.decode()
        assert "Be &lt;b&gt;kind&lt;/b&gt;" in content
        assert "Be <b>kind</b>" not in content
    assert 'name="notes-0-text"' not in request_page.content.decode()


def test_the_panel_names_the_visitor_as_the_list_does(world):
    # given: a visitor with no name of their own, bound to a customer with one, and one
    # with neither
    chat, olga = world["chat"], world["olga"]
    bound = ClientFactory(chat=chat, name="", external_id="web:bound")
    CustomerBinding.objects.create(client=bound, customer=CustomerFactory(name="Ivan Petrov"))
    anonymous = ClientFactory(chat=chat, name="", external_id="web:anonymous")
    # when
    bound_panel = visitor_panel(operator=olga, request_id=conversation(chat, bound).pk)
    anonymous_panel = visitor_panel(operator=olga, request_id=conversation(chat, anonymous).pk)
    # then: the customer's name, else nothing and the alias the list shows (never the
    # client's technical id)
    assert bound_panel["client"]["name"] == "Ivan Petrov"
    assert anonymous_panel["client"]["name"] == ""
    assert anonymous_panel["client"]["alias"] == client_alias(anonymous.pk)
    assert "web:anonymous" not in str(anonymous_panel["client"])
