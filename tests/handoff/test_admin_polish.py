"""What a new admin and a new user meet in the handoff pages: the console's refusal of
a non-operator, requests as a record (not editable), form answers in words, and
every chat with its handoff settings, reachable from the chat's page."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from chats.models import Chat
from handoff.enums import Fallback
from handoff.models import FormField, HandoffSettings, Request
from handoff.services import handoff_settings_for
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_client):
    return admin_client


# --- b. the console refuses a non-operator with a page that says why --------------


def test_a_non_operator_at_the_console_gets_a_page_that_says_why_and_how_to_leave(client):
    user = UserFactory(username="visitor")
    client.force_login(user)

    response = client.get("/console/")

    assert response.status_code == 403
    content = response.content.decode()
    assert "not an operator" in content
    assert "administrator" in content  # who to ask
    assert "console/console.css" in content  # styled like the login page
    assert 'action="/console/logout/"' in content
    assert 'method="post"' in content
    assert "csrfmiddlewaretoken" in content
    assert 'href="/admin/"' not in content  # not staff: no way into the admin


def test_a_staff_non_operator_at_the_console_is_offered_the_admin(client):
    user = get_user_model().objects.create_user("boss", password="x", is_staff=True)  # noqa: S106
    client.force_login(user)

    response = client.get("/console/")

    assert response.status_code == 403
    assert 'href="/admin/"' in response.content.decode()


def test_the_logout_form_of_the_refusal_logs_out(client):
    client.force_login(UserFactory(username="visitor"))

    response = client.post("/console/logout/")

    assert response.status_code == 302
    assert client.get("/console/").status_code == 302  # to the login page now


def test_an_operator_still_gets_the_console(client):
    operator = OperatorFactory()
    client.force_login(operator.user)
    assert client.get("/console/").status_code == 200


# --- c, d. a request is a record: nothing editable, answers in words ---------------


def _request(**fields) -> Request:
    dialog = DialogFactory()
    return Request.objects.create(dialog=dialog, chat=dialog.chat, reason="headset", **fields)


def test_a_requests_feedback_and_deadlines_are_not_editable_in_admin(staff):
    request = _request(feedback_asked=False)
    url = f"/admin/handoff/request/{request.pk}/change/"

    form_fields = staff.get(url).context["adminform"].form.fields
    response = staff.post(url, {"feedback_asked": "on", "feedback_due_at_0": "2030-01-01"})

    assert "feedback_asked" not in form_fields
    assert "feedback_due_at" not in form_fields
    assert response.status_code == 403
    request.refresh_from_db()
    assert request.feedback_asked is False
    assert request.feedback_due_at is None


def test_form_answers_read_as_question_and_answer_escaped(staff):
    request = _request(
        form_answers=[
            {"label": "Your name", "value": "Ann <b>Example</b>"},
            {"label": "Topic", "value": "Billing"},
        ]
    )

    content = staff.get(f"/admin/handoff/request/{request.pk}/change/").content.decode()

    assert "Your name: Ann &lt;b&gt;Example&lt;/b&gt;" in content
    assert "Topic: Billing" in content
    assert "&quot;label&quot;" not in content
    assert '"label"' not in content


def test_the_dialog_page_lists_its_requests_with_their_answers_in_words(staff):
    request = _request(form_answers=[{"label": "Topic", "value": "Billing"}])

    content = staff.get(f"/admin/chats/dialog/{request.dialog_id}/change/").content.decode()

    assert "Topic: Billing" in content
    assert f"/admin/handoff/request/{request.pk}/change/" in content


def test_the_request_page_shows_the_visitors_rating_read_only(staff):
    from handoff.models import Feedback

    request = _request()
    Feedback.objects.create(
        dialog=request.dialog, request=request, scale=5, score=4, comment="Quick <3"
    )

    content = staff.get(f"/admin/handoff/request/{request.pk}/change/").content.decode()

    assert "4/5 — Quick &lt;3" in content


def test_the_request_list_says_whether_a_form_was_answered_without_json(staff):
    _request(form_answers=[{"label": "Your name", "value": "Ann"}])
    content = staff.get("/admin/handoff/request/").content.decode()
    assert "&quot;label&quot;" not in content


# --- f. every chat has its handoff settings, reachable from its page ----------------


def _chat_add_data(**fields) -> dict:
    data = {
        "name": "New shop",
        "language": "en",
        "reply_to_first_message": "on",
        "headset_mode": "always",
        "handoff_settings-0-feedback_enabled": "on",
        "handoff_settings-0-feedback_delay_seconds": "0",
        "handoff_settings-0-feedback_scale": "5",
        "handoff_settings-0-feedback_prompt": "Rate us",
        "handoff_settings-0-operator_idle_seconds": "600",
        "handoff_settings-0-queue_max_wait_seconds": "900",
        "handoff_settings-0-queue_notice_interval_minutes": "2",
        "handoff_settings-0-queue_notice_text": "Busy",
        "handoff_settings-0-sla_first_response_seconds": "60",
        "handoff_settings-0-sla_next_response_seconds": "120",
        "bot_color": "#eef1f5",
        "operator_color": "#dff3e4",
        "user_color": "#2f6fed",
        "button_color": "#2f6fed",
        "button_text_color": "#ffffff",
        "messenger_links-TOTAL_FORMS": "0",
        "messenger_links-INITIAL_FORMS": "0",
        "handoff_settings-TOTAL_FORMS": "1",
        "handoff_settings-INITIAL_FORMS": "0",
        # the inline as the add page shows it: the defaults, untouched
        "handoff_settings-0-accept_timeout_seconds": "120",
        "handoff_settings-0-fallback": Fallback.FORM,
        "handoff_settings-0-reply_timeout_seconds": "300",
        "handoff_settings-0-unavailable_text": HandoffSettings._meta.get_field(
            "unavailable_text"
        ).default,
        "handoff_settings-0-lead_form_text": HandoffSettings._meta.get_field(
            "lead_form_text"
        ).default,
        "handoff_settings-0-time_zone": "UTC",
    }
    data.update(fields)
    return data


def test_a_chat_added_in_admin_gets_its_handoff_settings_even_when_left_as_they_are(staff):
    response = staff.post("/admin/chats/chat/add/", _chat_add_data())

    assert response.status_code == 302, response.content.decode()[:2000]
    chat = Chat.objects.get(name="New shop")
    assert HandoffSettings.objects.filter(chat=chat).count() == 1


def test_a_chat_added_in_admin_keeps_the_handoff_settings_typed_with_it(staff):
    response = staff.post(
        "/admin/chats/chat/add/",
        _chat_add_data(
            **{
                "handoff_settings-0-accept_timeout_seconds": "45",
                "handoff_settings-0-fallback": Fallback.MESSAGE,
                "handoff_settings-0-time_zone": "Europe/Rome",
            }
        ),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    settings = HandoffSettings.objects.get(chat__name="New shop")
    assert (settings.accept_timeout_seconds, settings.fallback, settings.time_zone) == (
        45,
        Fallback.MESSAGE,
        "Europe/Rome",
    )


def test_a_bad_handoff_setting_on_the_chat_page_is_refused_and_nothing_is_created(staff):
    response = staff.post(
        "/admin/chats/chat/add/",
        _chat_add_data(
            **{
                "handoff_settings-0-time_zone": "Mars/Olympus",
            }
        ),
    )

    assert response.status_code == 200
    assert "is not a time zone" in response.content.decode()
    assert not Chat.objects.filter(name="New shop").exists()
    assert not HandoffSettings.objects.exists()


def test_the_chat_page_links_to_its_handoff_settings_with_the_form_and_hours(staff):
    chat = ChatFactory()
    settings = handoff_settings_for(chat.pk)

    content = staff.get(f"/admin/chats/chat/{chat.pk}/change/").content.decode()

    assert f"/admin/handoff/handoffsettings/{settings.pk}/change/" in content
    assert 'name="handoff_settings-0-accept_timeout_seconds"' in content


def test_the_chat_list_leads_to_handoff_settings_and_creates_what_is_missing(staff):
    chat = ChatFactory()  # made without the admin: no settings yet
    assert not HandoffSettings.objects.filter(chat=chat).exists()

    content = staff.get("/admin/chats/chat/").content.decode()
    link = f"/admin/handoff/handoffsettings/for-chat/{chat.pk}/"
    assert link in content
    response = staff.get(link)

    settings = HandoffSettings.objects.get(chat=chat)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/handoff/handoffsettings/{settings.pk}/change/"


def test_the_chat_of_handoff_settings_cannot_be_swapped(staff):
    settings = handoff_settings_for(ChatFactory().pk)
    form_fields = (
        staff.get(f"/admin/handoff/handoffsettings/{settings.pk}/change/")
        .context["adminform"]
        .form.fields
    )
    assert "chat" not in form_fields


def test_the_data_migration_gives_every_existing_chat_its_settings():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("handoff.migrations.0004_handoff_settings_for_every_chat")
    with_settings, without = ChatFactory(), ChatFactory()
    handoff_settings_for(with_settings.pk)
    HandoffSettings.objects.filter(chat=with_settings).update(accept_timeout_seconds=33)

    migration.handoff_settings_for_every_chat(apps, None)

    assert HandoffSettings.objects.get(chat=with_settings).accept_timeout_seconds == 33
    assert HandoffSettings.objects.filter(chat=without).count() == 1


def test_the_demo_chat_comes_with_its_handoff_settings():
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert HandoffSettings.objects.filter(chat__public_key="demo").count() == 1


# --- e. the settings page fits the window ------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1024, 1280])
def test_the_handoff_settings_page_fits_a_laptop_window(daphne_server, page, width):
    get_user_model().objects.create_superuser("root", "", "root-password")  # noqa: S106
    settings = handoff_settings_for(ChatFactory(name="Shop").pk)
    options = "Billing and invoices\nDelivery and returns\nSomething else"
    for position, label in enumerate(["Your name", "Your e-mail address", "What is it about?"]):
        FormField.objects.create(
            settings=settings,
            position=position,
            label=label,
            kind="choice" if position == 2 else "text",
            choices=options if position == 2 else "",
        )
    page.set_viewport_size({"width": width, "height": 800})
    change_page = f"/admin/handoff/handoffsettings/{settings.pk}/change/"
    page.goto(f"{daphne_server.http_url}/admin/login/?next={change_page}")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-password")
    page.locator("input[type=submit]").click()
    page.wait_for_selector("#form_fields-group")

    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )

    assert overflow <= 0


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_non_operator_reads_why_and_logs_out_in_the_browser(daphne_server, page):
    from playwright.sync_api import expect

    from tests.config.test_content_security_policy_browser import PolicyWatch

    # given
    UserFactory(username="visitor")
    base = daphne_server.http_url
    watch = PolicyWatch(page)
    page.goto(f"{base}/console/login/")
    page.locator("input[name=username]").fill("visitor")
    page.locator("input[name=password]").fill("operator-password")
    page.locator("form.login-form button[type=submit]").click()
    expect(page.get_by_text("this account is not an operator")).to_be_visible()
    # when
    page.get_by_role("button", name="Log out").click()
    # then
    expect(page).to_have_url(f"{base}/console/login/")
    page.goto(f"{base}/console/")
    expect(page.locator("input[name=username]")).to_be_visible()
    watch.assert_clean()
