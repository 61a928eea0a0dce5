import pytest

from chats.enums import AuthorKind
from chats.models import Chat
from chats.services import message_post
from tests.chats.factories import ChatFactory, DialogFactory, ScriptFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_client):
    return admin_client


def test_chat_list_offers_frame_code_dialogs_preview_edit_and_delete(staff):
    chat = ChatFactory()
    content = staff.get("/admin/chats/chat/").content.decode()
    for link in (
        f"/admin/chats/chat/{chat.pk}/frame-code/",
        f"/reports/dialogs/?chat={chat.pk}",
        f"/demo/{chat.public_key}/",
        f"/admin/chats/chat/{chat.pk}/delete/",
    ):
        assert link in content


def test_frame_code_page_shows_the_snippet_to_copy(staff):
    chat = ChatFactory()
    content = staff.get(f"/admin/chats/chat/{chat.pk}/frame-code/").content.decode()
    assert f"data-baton-chat=&quot;{chat.public_key}&quot;" in content
    assert "Copy" in content


def test_delete_confirmation_says_what_goes_with_the_chat(staff):
    chat = ChatFactory(name="Shop")
    ScriptFactory(chat=chat)
    dialog = DialogFactory(client__chat=chat)
    for text in ("a", "b"):
        message_post(dialog=dialog, author_kind=AuthorKind.BOT, text=text)
    content = staff.get(f"/admin/chats/chat/{chat.pk}/delete/").content.decode()
    assert "with 1 scripts, 1 clients, 1 dialogs and 2 messages" in content
    staff.post(f"/admin/chats/chat/{chat.pk}/delete/", {"post": "yes"})
    assert not Chat.objects.filter(pk=chat.pk).exists()


def test_saving_a_bad_colour_in_admin_is_refused_and_changes_nothing(staff):
    chat = ChatFactory(bot_color="#ffffff")
    url = f"/admin/chats/chat/{chat.pk}/change/"
    form = staff.get(url).context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items()}
    data.update(
        {
            "bot_color": "very blue",
            "messenger_links-TOTAL_FORMS": "0",
            "messenger_links-INITIAL_FORMS": "0",
            "messenger_links-MIN_NUM_FORMS": "0",
            "messenger_links-MAX_NUM_FORMS": "1000",
        }
    )
    for name in (
        "bot_avatar",
        "operator_avatar",
        "user_avatar",
        "script_after_bot_end",
        "script_after_operator_end",
        "script_after_client_timeout",
    ):
        data.pop(name, None)
    response = staff.post(url, data)
    assert response.status_code == 200
    assert "is not a colour" in response.content.decode()
    chat.refresh_from_db()
    assert chat.bot_color == "#ffffff"


def test_every_model_has_an_admin_page(staff):
    for path in (
        "chats/chat",
        "chats/script",
        "chats/step",
        "chats/client",
        "distributor/customer",
        "chats/dialog",
        "chats/message",
        "handoff/request",
        "distributor/operator",
    ):
        assert staff.get(f"/admin/{path}/").status_code == 200, path
