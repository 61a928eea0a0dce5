"""What a new admin meets in the chats pages: the frame code as text, counters that
only the system writes, messages shown as words instead of JSON, and a walk through
every page of every registered model."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.utils.html import escape

from chats.enums import AuthorKind
from chats.models import Dialog
from chats.services import message_post
from chats.views import frame_code
from tests.browser_fixtures import *  # noqa: F403 - browser, page for the browser tests
from tests.chats.factories import ChatFactory, DialogFactory

pytestmark = pytest.mark.django_db

# what a JSONField shows as in a page's text: an object or a list of objects
RAW_JSON = re.compile(r'[\[{]\s*"')


class _PageText(HTMLParser):
    """The text a person reads (attributes such as the admin's own data-* are not)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def shows_raw_json(content: str) -> bool:
    parser = _PageText()
    parser.feed(content)
    return bool(RAW_JSON.search(" ".join(parser.parts)))


@pytest.fixture
def staff(admin_client):
    return admin_client


def test_frame_code_page_shows_the_whole_snippet_and_the_closing_body_tag_as_text(staff):
    chat = ChatFactory()
    content = staff.get(f"/admin/chats/chat/{chat.pk}/frame-code/").content.decode()
    assert escape(frame_code(chat=chat, base_url="http://testserver")) in content
    # the instruction names the tag to paste before; written raw it vanished as markup
    assert "just before &lt;/body&gt;" in content
    assert "</body>:" not in content


def test_frame_code_page_copies_without_inline_script(staff):
    chat = ChatFactory()
    content = staff.get(f"/admin/chats/chat/{chat.pk}/frame-code/").content.decode()
    assert "onclick" not in content
    assert "admin/frame_code.js" in content
    assert 'data-copy-target="frame-code"' in content


def _change_form_data(staff, url: str) -> dict:
    """The change form as the browser would post it, unchanged."""
    response = staff.get(url)
    data = {}
    for bound in response.context["adminform"].form:
        value = bound.value()
        if value is None or bound.field.disabled:
            continue
        data[bound.html_name] = value
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name, value in management.initial.items():
            data[f"{management.prefix}-{name}"] = value
    return data


def test_dialog_counters_are_read_only_in_admin(staff):
    dialog = DialogFactory(fallback_count=2, client_message_count=5, headset_revealed=False)
    url = f"/admin/chats/dialog/{dialog.pk}/change/"
    form_fields = staff.get(url).context["adminform"].form.fields
    for name in (
        "client_message_count",
        "fallback_count",
        "headset_revealed",
        "last_sequence",
        "status",
    ):
        assert name not in form_fields, name

    data = _change_form_data(staff, url)
    data.update(
        {
            "client_message_count": "0",
            "fallback_count": "99",
            "headset_revealed": "on",
            "last_sequence": "7",
        }
    )
    staff.post(url, data)

    dialog.refresh_from_db()
    assert (dialog.client_message_count, dialog.fallback_count, dialog.headset_revealed) == (
        5,
        2,
        False,
    )
    assert dialog.last_sequence == 0


def test_client_identity_is_read_only_in_admin(staff):
    dialog = DialogFactory()
    client = dialog.client
    url = f"/admin/chats/client/{client.pk}/change/"
    form_fields = staff.get(url).context["adminform"].form.fields
    for name in ("chat", "messenger", "external_id"):
        assert name not in form_fields, name
    assert staff.get("/admin/chats/client/add/").status_code == 403


def test_a_customer_page_lists_the_clients_bound_to_it(staff):
    from distributor.models import Customer, CustomerBinding

    dialog = DialogFactory(client__name="Ann in the widget")
    customer = Customer.objects.create(name="Ann", email="ann@example.com")
    CustomerBinding.objects.create(client=dialog.client, customer=customer)

    content = staff.get(f"/admin/distributor/customer/{customer.pk}/change/").content.decode()

    assert "Ann in the widget" in content
    assert f"/admin/chats/client/{dialog.client.pk}/change/" in content


def test_a_step_buttons_target_scripts_are_named_without_their_chat(staff):
    from tests.chats.factories import ScriptFactory, StepButtonFactory, StepFactory

    chat = ChatFactory(name="Shop")
    delivery = ScriptFactory(chat=chat, name="Delivery")
    step = StepFactory(script=ScriptFactory(chat=chat, name="Greeting"))
    StepButtonFactory(step=step, target_script=delivery)

    content = staff.get(f"/admin/chats/step/{step.pk}/change/").content.decode()

    # the choice is among this chat's scripts only: the chat's name is noise there
    assert f'<option value="{delivery.pk}" selected>Delivery</option>' in content


def test_message_buttons_and_attachments_read_as_words_not_json(staff):
    dialog = DialogFactory()
    message, _created = message_post(
        dialog=dialog,
        author_kind=AuthorKind.BOT,
        text="Pick one",
        buttons=[
            {"id": 1, "label": "Delivery <now>"},
            {"id": 2, "label": "Help", "url": "https://example.com/help"},
        ],
        attachments=[
            {"kind": "document", "file_name": "invoice.pdf", "url": "/files/x/"},
            {"kind": "document", "file_name": "trap", "url": "javascript:alert(1)"},
        ],
    )
    content = staff.get(f"/admin/chats/message/{message.pk}/change/").content.decode()
    assert "Delivery &lt;now&gt;" in content
    assert "https://example.com/help" in content
    assert '<a href="/files/x/">invoice.pdf</a>' in content
    assert "trap" in content
    assert "javascript:" not in content
    assert not shows_raw_json(content)


# --- a walk through the admin, as a new admin would -------------------------------


@pytest.fixture
def world(staff):
    """One of everything an admin may look at, made through the admin where it can be."""
    from distributor.models import Operator
    from handoff.models import FormField, Request, WorkingPeriod
    from handoff.services import handoff_settings_for
    from telegram_bridge.models import (
        ConnectLink,
        OperatorAccount,
        OutboundMessage,
        TelegramBot,
        TelegramUpdate,
    )
    from tests.chats.factories import ScriptFactory, StepButtonFactory, StepFactory
    from tests.distributor.factories import OperatorFactory

    chat = ChatFactory(name="Shop")
    script = ScriptFactory(chat=chat)
    step = StepFactory(script=script)
    StepButtonFactory(step=step, target_script=script)
    dialog = DialogFactory(client__chat=chat)
    message_post(
        dialog=dialog,
        author_kind=AuthorKind.BOT,
        text="Hello",
        buttons=[{"id": 1, "label": "Delivery"}],
    )
    settings = handoff_settings_for(chat.pk)
    FormField.objects.create(settings=settings, label="Your name")
    WorkingPeriod.objects.create(settings=settings, weekday=0, starts_at="09:00", ends_at="17:00")
    operator: Operator = OperatorFactory(chats=[chat])
    Request.objects.create(
        dialog=dialog,
        chat=chat,
        reason="headset",
        form_answers=[{"label": "Your name", "value": "Ann"}],
    )
    bot = TelegramBot.objects.create(chat=chat, token="1:abc", username="shop_bot")  # noqa: S106
    from django.utils import timezone

    ConnectLink.objects.create(bot=bot, operator=operator, expires_at=timezone.now())
    OperatorAccount.objects.create(bot=bot, operator=operator, telegram_user_id=7)
    OutboundMessage.objects.create(
        bot=bot, telegram_chat_id=7, method="sendMessage", purpose="message", payload={"text": "hi"}
    )
    TelegramUpdate.objects.create(bot=bot, update_id=1, payload={"update_id": 1})
    from distributor.services import customer_bind

    customer_bind(client=dialog.client, name="Ann", email="ann@example.com")
    return chat


def _registered_models():
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


# The raw update Telegram sent is kept as the record of what arrived; JSON is its form.
RAW_BY_DESIGN = {"telegram_bridge.TelegramUpdate", "telegram_bridge.OutboundMessage"}


@pytest.mark.parametrize("model", _registered_models(), ids=lambda model: model._meta.label)
def test_every_admin_page_opens_and_shows_no_raw_json(staff, world, model):
    model_admin = admin.site._registry[model]
    info = (model._meta.app_label, model._meta.model_name)
    pages = [f"/admin/{info[0]}/{info[1]}/"]
    instance = model._default_manager.first()
    if instance is not None:
        pages.append(f"/admin/{info[0]}/{info[1]}/{instance.pk}/change/")
    for page in pages:
        response = staff.get(page)
        assert response.status_code == 200, page
        if model._meta.label not in RAW_BY_DESIGN:
            assert not shows_raw_json(response.content.decode()), page
    add = staff.get(f"/admin/{info[0]}/{info[1]}/add/")
    can_add = model_admin.has_add_permission(add.wsgi_request)
    assert add.status_code == (200 if can_add else 403)


def test_the_dialog_page_has_no_edit_button_for_what_only_the_system_writes(staff):
    dialog = DialogFactory()
    assert Dialog.objects.filter(pk=dialog.pk).exists()
    content = staff.get(f"/admin/chats/dialog/{dialog.pk}/change/").content.decode()
    assert 'name="_save"' not in content


def test_the_admin_is_named_baton_not_django(staff):
    content = staff.get("/admin/").content.decode()
    assert "Baton administration" in content
    assert "Django administration" not in content


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_frame_code_is_copied_exactly_in_the_browser(daphne_server, page):
    from django.contrib.auth import get_user_model
    from playwright.sync_api import expect

    from tests.config.test_content_security_policy_browser import PolicyWatch

    # given
    get_user_model().objects.create_superuser("root", "", "root-password")  # noqa: S106
    chat = ChatFactory()
    base = daphne_server.http_url
    watch = PolicyWatch(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.goto(f"{base}/admin/login/?next=/admin/chats/chat/{chat.pk}/frame-code/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-password")
    page.locator("input[type=submit]").click()
    # the copy handler is a script of the page: on a loaded machine a click can land
    # before it runs (CI failed so once), so wait until the page has loaded
    page.wait_for_url(f"**/admin/chats/chat/{chat.pk}/frame-code/")
    page.wait_for_load_state("load")
    # when
    page.get_by_role("button", name="Copy").click()
    # then
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    snippet = frame_code(chat=chat, base_url=base)
    assert page.locator("#frame-code").input_value() == snippet
    assert page.evaluate("navigator.clipboard.readText()") == snippet
    assert page.get_by_text("just before </body>").is_visible()
    box = page.locator("#frame-code")
    assert box.evaluate("node => node.scrollHeight <= node.clientHeight")  # nothing hidden
    assert box.bounding_box()["width"] >= 400
    watch.assert_clean()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_step_page_with_buttons_fits_a_laptop_window(daphne_server, page):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from chats.models import Script

    call_command("load_demo")  # its greeting has four buttons to scripts and one to a URL
    step = Script.objects.get(chat__public_key="demo", kind="start").steps.get()
    page.set_viewport_size({"width": 1280, "height": 800})
    get_user_model().objects.create_superuser("root", "", "root-password")  # noqa: S106
    page.goto(f"{daphne_server.http_url}/admin/login/?next=/admin/chats/step/{step.pk}/change/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-password")
    page.locator("input[type=submit]").click()
    page.wait_for_selector("#buttons-group")

    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )

    assert overflow <= 0
