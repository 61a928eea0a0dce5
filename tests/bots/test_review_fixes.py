"""Regression tests of issue 11's review (the API bots): a bot's key works only on the
bot endpoints; those endpoints have the API's rate limit, body limits and errors; a bot
cannot answer a dialog a person has or whose channel was re-routed (released, told:
dialog.released); a client cannot pre-empt a bot's idempotent reply; the webhook's host is
resolved once and the checked address is the one connected to (no DNS rebinding).

The reviewer's tests (tests/review11/ of branch review11) come first, then the tests
added with the fixes."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from chats.enums import AuthorKind, DialogStatus, Messenger
from chats.frames import CLIENT_MSG_ID
from chats.models import Dialog, Message
from chats.services import dialog_receive_client_message
from chats.services import dialog_start_or_resume as dialog_start
from distributor.enums import ApiScope, DeliveryStatus, RouteTarget
from distributor.models import ApiBot, ApiKey, BotAssignment, RoutingRule, WebhookDelivery
from distributor.services.api_bots import (
    CLIENT_MESSAGE_ID_MAX,
    api_bot_assignments_release_ended,
    held_count,
)
from distributor.services.webhooks import (
    webhook_delivery_send,
    webhook_event_record,
    webhook_signature_header,
    webhook_transport,
)
from docs.examples.api_bot import verify_signature
from handoff.enums import RequestReason
from handoff.services import request_open
from tests.bots.conftest import api_client, integration_key, register_bot
from tests.chats.factories import ChatFactory, ClientFactory, DialogFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db

BOTS = "/api/v1/bots/"


def client_writes(chat, text, *, visitor="visitor-1"):
    dialog, _created = dialog_start(chat=chat, messenger=Messenger.WEB, external_id=visitor)
    return dialog_receive_client_message(
        dialog=dialog, text=text, client_msg_id=f"{visitor}:{text}"
    )


def register(chat, *, requests_per_minute=10_000):
    """A key holding ONLY managers:write registers a bot through the API."""
    key, token = integration_key([chat])
    ApiKey.objects.filter(pk=key.pk).update(requests_per_minute=requests_per_minute)
    response = api_client(token).post(
        BOTS,
        {"name": "Echo", "webhook_url": "https://bot.example.com/hook", "chats": [chat.pk]},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


# --- 1. scope escalation ----------------------------------------------------------------


def test_registering_a_bot_does_not_give_a_managers_only_key_the_dialogs_of_its_chats():
    # given a key that may NOT read dialogs (managers:write only) and a dialog of its chat
    chat = ChatFactory()
    DialogFactory(client=ClientFactory(chat=chat, name="Ann"))
    key, token = integration_key([chat])
    assert api_client(token).get("/api/v1/dialogs/").status_code == 403
    # when it registers a bot and uses the bot's key on the general API
    bot_token = register(chat)["api_key"]
    bot = api_client(bot_token)
    # then the bot key reads no dialog it does not hold (it holds none) ...
    listed = bot.get("/api/v1/dialogs/")
    assert listed.status_code in (403, 404), listed.json()


def test_a_bot_key_cannot_post_into_a_dialog_it_does_not_hold():
    # given a dialog of the bot's chat that was never routed to the bot
    chat = ChatFactory()
    dialog = DialogFactory(client=ClientFactory(chat=chat, name="Ann"))
    bot = api_client(register(chat)["api_key"])
    # the bot's own endpoint refuses it (documented: a dialog it does not hold is a 404)
    own = bot.post(f"{BOTS}dialogs/{dialog.session_id}/messages/", {"text": "hi"}, format="json")
    assert own.status_code == 404
    # when it uses the general API instead
    posted = bot.post(
        f"/api/v1/dialogs/{dialog.session_id}/messages/", {"text": "hi"}, format="json"
    )
    # then it is refused as well, and nothing was posted
    assert posted.status_code in (403, 404), posted.json()
    assert not Message.objects.filter(dialog=dialog, text="hi").exists()


def test_a_bot_key_cannot_accept_requests_on_behalf_of_managers():
    chat = ChatFactory()
    manager = OperatorFactory(display_name="Olga", chats=[chat])
    dialog = DialogFactory(client=ClientFactory(chat=chat, name="Ann"))
    request = request_open(dialog=dialog, reason=RequestReason.API)
    bot = api_client(register(chat)["api_key"])
    response = bot.post(
        f"/api/v1/requests/{request.pk}/accept/", {"operator": manager.pk}, format="json"
    )
    assert response.status_code in (403, 404), response.json()


# --- 2. rate limit ----------------------------------------------------------------------


def test_the_bots_endpoints_keep_the_keys_rate_limit():
    # given a bot whose key may make 2 calls a minute (copied from the registering key)
    chat = ChatFactory()
    body = register(chat, requests_per_minute=2)
    assert ApiBot.objects.get(pk=body["id"]).api_key.requests_per_minute == 2
    bot = api_client(body["api_key"])
    # when it calls its own endpoint 4 times
    codes = [bot.get(f"{BOTS}me/").status_code for _ in range(4)]
    # then the calls past the limit get 429, as on every other endpoint
    assert codes[-1] == 429, codes


# --- 3. bad input -----------------------------------------------------------------------


def test_deeply_nested_json_to_the_bot_registration_is_a_400_not_a_500():
    chat = ChatFactory()
    _key, token = integration_key([chat])
    client = api_client(token)
    client.raise_request_exception = False
    # within the 64 KB body limit (a larger body is a 413 before it is parsed)
    body = "[" * 30_000 + "]" * 30_000
    response = client.post(BOTS, body, content_type="application/json")
    assert response.status_code == 400
    assert ApiBot.objects.count() == 0


def test_a_body_over_64_kb_to_a_bot_endpoint_is_refused_like_the_rest_of_the_api():
    chat = ChatFactory()
    _key, token = integration_key([chat])
    client = api_client(token)
    payload = {
        "name": "Echo",
        "webhook_url": "https://bot.example.com/hook",
        "chats": [chat.pk],
        "padding": "x" * 500_000,
    }
    response = client.post(BOTS, payload, format="json")
    assert response.status_code == 413, response.status_code


# --- 4. a bot answering in a dialog a person has ----------------------------------------


def test_a_bot_cannot_answer_in_a_dialog_a_person_has_taken_over(routed_bot):
    # given the bot holds a dialog
    dialog = client_writes(routed_bot.chat, "hello").message.dialog
    assert dialog.bot_assignment.released_at is None
    # when the client gets a person (a request opens: the dialog is theirs now)
    OperatorFactory(display_name="Olga", chats=[routed_bot.chat])
    assert request_open(dialog=dialog, reason=RequestReason.API) is not None
    # then the bot's reply is refused, not posted into the person's conversation
    response = routed_bot.api.post(
        f"{BOTS}dialogs/{dialog.session_id}/messages/", {"text": "bot here"}, format="json"
    )
    assert response.status_code in (404, 409), response.json()
    assert not Message.objects.filter(dialog=dialog, text="bot here").exists()


def test_the_bot_registration_needs_managers_write_and_gives_only_dialogs_write():
    # sanity: the bot key is dialogs:write (the escalation above is through that scope)
    chat = ChatFactory()
    body = register(chat)
    assert ApiBot.objects.get(pk=body["id"]).api_key.scopes == [ApiScope.DIALOGS_WRITE]


# --- re-routed away from the bot (reviewer) ----------------------------------------------


def test_a_dialog_rerouted_from_the_api_bot_to_the_scripts_is_no_longer_the_bots(routed_bot):
    # given the bot holds a dialog
    dialog, _created = dialog_start(chat=routed_bot.chat, messenger=Messenger.WEB, external_id="v1")
    dialog_receive_client_message(dialog=dialog, text="hello", client_msg_id="v1:1")
    assert held_count(routed_bot.bot) == 1
    # when the admin routes the channel back to the chat's own scripts
    rule = RoutingRule.objects.get(api_bot=routed_bot.bot)
    rule.api_bot = None
    rule.save()
    # and the client writes again (the scripts answer it now), and the sweep runs
    dialog_receive_client_message(dialog=dialog, text="still there?", client_msg_id="v1:2")
    api_bot_assignments_release_ended()
    # then the bot no longer holds it: no capacity used, its reply is refused
    assert held_count(routed_bot.bot) == 0
    response = routed_bot.api.post(
        f"/api/v1/bots/dialogs/{dialog.session_id}/messages/", {"text": "bot here"}, format="json"
    )
    assert response.status_code == 404, response.status_code


# --- DNS rebinding (reviewer) ------------------------------------------------------------


def test_a_webhook_host_that_rebinds_to_loopback_after_the_check_is_not_called(
    settings, webhook_receiver, monkeypatch
):
    # given production's setting (private addresses refused) and a bot whose webhook
    # host first resolves to a public address, then to 127.0.0.1 (DNS rebinding)
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = False
    port = webhook_receiver.server.server_address[1]
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def rebinding(host, *args, **kwargs):
        if host == "rebind.example.com":
            address = next(answers, "127.0.0.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    key, _token = integration_key([ChatFactory()])
    bot = ApiBot.objects.create(
        name="Rebind",
        api_key=key,
        webhook_url=f"http://rebind.example.com:{port}/hook",
        signing_secret="s",
    )
    delivery = webhook_event_record(bot=bot, event="ping", data={})
    # when the delivery is sent
    sent = webhook_delivery_send(delivery_id=delivery.pk)
    # then nothing inside Baton's own network was called
    assert webhook_receiver.received == [], "the loopback receiver was called"
    assert sent.status != DeliveryStatus.DELIVERED
    assert sent.last_error.startswith("refused:"), sent.last_error


# --- idempotency namespace (reviewer) ----------------------------------------------------


def test_a_visitor_cannot_pre_empt_the_bots_idempotent_reply(routed_bot):
    # given the visitor sends a message whose client_msg_id is "bot:welcome" (the widget
    # accepts [A-Za-z0-9_-:.]{1,64})
    dialog, _created = dialog_start(chat=routed_bot.chat, messenger=Messenger.WEB, external_id="v1")
    dialog_receive_client_message(dialog=dialog, text="hi", client_msg_id="bot:welcome")
    # when the bot replies with client_message_id "welcome"
    response = routed_bot.api.post(
        f"/api/v1/bots/dialogs/{dialog.session_id}/messages/",
        {"text": "Welcome! How can I help?", "client_message_id": "welcome"},
        format="json",
    )
    # then the bot's message is posted (not the visitor's returned as the bot's own)
    assert response.status_code == 201, (response.status_code, response.json())
    assert Message.objects.filter(
        dialog=dialog, author_kind=AuthorKind.BOT, text="Welcome! How can I help?"
    ).exists()


# --- regression tests added with the fixes -----------------------------------------------


def events_of(bot) -> list[tuple[str, str | None]]:
    return [
        (delivery.event, delivery.payload.get("reason"))
        for delivery in WebhookDelivery.objects.filter(bot=bot).order_by("pk")
    ]


def test_a_bot_key_outside_the_bot_endpoints_gets_a_403_saying_so(routed_bot):
    for url in ("/api/v1/dialogs/", "/api/v1/chats/", "/api/v1/requests/"):
        response = routed_bot.api.get(url)
        assert response.status_code == 403, url
        assert "/api/v1/bots/" in response.json()["detail"]
    # its own endpoints still work
    assert routed_bot.api.get(f"{BOTS}me/").status_code == 200


def test_a_bot_key_cannot_register_another_bot(routed_bot):
    response = routed_bot.api.post(
        BOTS,
        {
            "name": "Child",
            "webhook_url": "https://bot.example.com/x",
            "chats": [routed_bot.chat.pk],
        },
        format="json",
    )
    assert response.status_code == 403
    assert ApiBot.objects.count() == 1


def test_the_key_and_its_bot_are_read_in_one_query(routed_bot, django_assert_num_queries):
    from distributor.services.api_keys import api_key_authenticate, api_key_bot

    api_key_authenticate(routed_bot.token)  # records the first use (a write, once a minute)
    with django_assert_num_queries(1):
        key = api_key_authenticate(routed_bot.token)
        assert api_key_bot(key).pk == routed_bot.bot.pk
        assert api_key_bot(key).api_key is key


def test_a_bots_call_on_a_dialog_a_person_has_is_a_409_releases_it_and_tells_the_bot(routed_bot):
    # given the bot holds a dialog, and then a request opens (a person has it now)
    dialog = client_writes(routed_bot.chat, "hello").message.dialog
    OperatorFactory(display_name="Olga", chats=[routed_bot.chat])
    request_open(dialog=dialog, reason=RequestReason.API)
    url = f"{BOTS}dialogs/{dialog.session_id}/messages/"
    # when the bot replies (before the sweep ran)
    response = routed_bot.api.post(url, {"text": "bot here"}, format="json")
    # then 409 with a clear message, nothing posted, the bot released and told
    assert response.status_code == 409
    assert response.json()["code"] == "not_held"
    assert not Message.objects.filter(dialog=dialog, text="bot here").exists()
    assert BotAssignment.objects.get(dialog=dialog).released_at is not None
    assert events_of(routed_bot.bot)[-1] == ("dialog.released", "person")
    # and from then on it is a 404, the sweep has nothing left to tell
    assert routed_bot.api.post(url, {"text": "again"}, format="json").status_code == 404
    assert api_bot_assignments_release_ended() == 0
    assert [event for event, _ in events_of(routed_bot.bot)].count("dialog.released") == 1


def test_the_sweep_tells_the_bot_when_a_person_has_its_dialog(routed_bot):
    dialog = client_writes(routed_bot.chat, "hello").message.dialog
    OperatorFactory(display_name="Olga", chats=[routed_bot.chat])
    request_open(dialog=dialog, reason=RequestReason.API)
    assert api_bot_assignments_release_ended() == 1
    assert api_bot_assignments_release_ended() == 0
    assert events_of(routed_bot.bot)[-1] == ("dialog.released", "person")
    assert held_count(routed_bot.bot) == 0


def test_a_rerouted_dialog_is_a_409_at_the_bots_next_call_before_the_sweep(routed_bot):
    dialog = client_writes(routed_bot.chat, "hello").message.dialog
    RoutingRule.objects.filter(api_bot=routed_bot.bot).update(api_bot=None)
    response = routed_bot.api.post(f"{BOTS}dialogs/{dialog.session_id}/close/", format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "not_held"
    dialog.refresh_from_db()
    assert dialog.status == DialogStatus.BOT  # not closed
    assert held_count(routed_bot.bot) == 0
    assert events_of(routed_bot.bot)[-1] == ("dialog.released", "rerouted")


def test_the_sweep_releases_a_rerouted_dialog_once_and_tells_the_bot(routed_bot):
    dialog = client_writes(routed_bot.chat, "hello").message.dialog
    RoutingRule.objects.filter(api_bot=routed_bot.bot).update(target=RouteTarget.MANAGERS)
    assert api_bot_assignments_release_ended() == 1
    assert api_bot_assignments_release_ended() == 0
    assert BotAssignment.objects.get(dialog=dialog).released_at is not None
    assert events_of(routed_bot.bot)[-1] == ("dialog.released", "rerouted")


def test_the_sweep_leaves_the_dialogs_still_routed_to_their_bot(routed_bot):
    dialog = client_writes(routed_bot.chat, "hello").message.dialog
    assert api_bot_assignments_release_ended() == 0
    assert BotAssignment.objects.get(dialog=dialog).released_at is None
    assert held_count(routed_bot.bot) == 1


def test_a_channel_rerouted_to_another_bot_tells_the_first(routed_bot, webhook_receiver):
    dialog = client_writes(routed_bot.chat, "hello").message.dialog
    second = register_bot(
        chat=routed_bot.chat, url=webhook_receiver.url, name="Second", route=False
    )
    RoutingRule.objects.filter(api_bot=routed_bot.bot).update(api_bot=second.bot)
    client_writes(routed_bot.chat, "still there?")
    assert BotAssignment.objects.get(dialog=dialog).bot_id == second.bot.pk
    assert events_of(routed_bot.bot)[-1] == ("dialog.released", "rerouted")
    assert [event for event, _ in events_of(second.bot)][:1] == ["dialog.assigned"]


def test_a_bots_client_message_id_has_the_general_apis_limit(routed_bot):
    dialog = client_writes(routed_bot.chat, "hello").message.dialog
    url = f"{BOTS}dialogs/{dialog.session_id}/messages/"
    for bad in ("x" * (CLIENT_MESSAGE_ID_MAX + 1), "a b", "a/b", "é"):
        response = routed_bot.api.post(url, {"text": "hi", "client_message_id": bad}, format="json")
        assert response.status_code == 400, bad
    assert not Message.objects.filter(dialog=dialog, text="hi").exists()
    ok = routed_bot.api.post(
        url, {"text": "hi", "client_message_id": "x" * CLIENT_MESSAGE_ID_MAX}, format="json"
    )
    assert ok.status_code == 201
    stored = Message.objects.get(pk=ok.json()["id"]).client_msg_id
    # stored behind a prefix no widget, console or Telegram id can have
    assert stored == "bot/" + "x" * CLIENT_MESSAGE_ID_MAX
    assert not CLIENT_MSG_ID.fullmatch(stored)


def test_the_bot_endpoints_answer_errors_in_the_apis_form(routed_bot):
    response = routed_bot.api.post(
        f"{BOTS}dialogs/{'0' * 32}/messages/", {"text": "hi"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    bad = routed_bot.api.patch(f"{BOTS}me/", {"capacity": 0}, format="json")
    assert bad.status_code == 400
    assert "capacity" in bad.json()["errors"]


def test_verify_signature_refuses_odd_headers_without_raising():
    body = b"{}"
    assert not verify_signature("s", "t=\u00b2,v1=abc", body, now=2)
    assert not verify_signature("s", "t=1,v1=\u00e9\u00e9", body, now=1)
    assert not verify_signature("s", "t=1,v1=", body, now=1)
    good = webhook_signature_header(secret="s", timestamp=1, body=body)
    assert verify_signature("s", good, body, now=1)


def test_the_admins_held_count_leaves_out_closed_dialogs(routed_bot, rf, admin_user):
    from django.contrib import admin

    from distributor.admin_webhooks import ApiBotAdmin

    first = client_writes(routed_bot.chat, "hello", visitor="v-a").message.dialog
    client_writes(routed_bot.chat, "hello", visitor="v-b")
    Dialog.objects.filter(pk=first.pk).update(status=DialogStatus.CLOSED)
    request = rf.get("/admin/distributor/apibot/")
    request.user = admin_user
    listed = ApiBotAdmin(ApiBot, admin.site).get_queryset(request).get(pk=routed_bot.bot.pk)
    assert listed.held_count == held_count(routed_bot.bot) == 1


# --- the webhook's connection: resolved once, checked, TLS for the host name ---------------


def _self_signed_localhost(tmp_path):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_an_https_webhook_on_localhost_gets_sni_and_a_verified_certificate(
    tmp_path, webhook_receiver, settings
):
    # given an HTTPS receiver on 127.0.0.1 with a certificate for "localhost"
    cert_file, key_file = _self_signed_localhost(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    seen_names = []
    server_context.sni_callback = lambda sock, name, context: seen_names.append(name)
    server = webhook_receiver.server
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    trust = ssl.create_default_context(cafile=str(cert_file))
    # when Baton's webhook transport posts to https://localhost:<port>/hook
    with httpx.Client(transport=webhook_transport(verify=trust), timeout=5) as client:
        response = client.post(f"https://localhost:{port}/hook", content=b"{}")
    # then it connected to the checked address, with SNI and the certificate for the name
    assert response.status_code == 200
    assert seen_names == ["localhost"]
    assert len(webhook_receiver.received) == 1
    # and with private addresses refused, the same call never connects
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = False
    with (
        httpx.Client(transport=webhook_transport(verify=trust), timeout=5) as client,
        pytest.raises(httpx.ConnectError, match="non-public"),
    ):
        client.post(f"https://localhost:{port}/hook", content=b"{}")
    assert len(webhook_receiver.received) == 1


def test_a_delivery_over_http_to_localhost_still_works_when_private_is_allowed(routed_bot):
    delivery = webhook_event_record(bot=routed_bot.bot, event="ping", data={})
    sent = webhook_delivery_send(delivery_id=delivery.pk)
    assert sent.status == DeliveryStatus.DELIVERED
    assert routed_bot.bot.webhook_url.startswith("http://127.0.0.1:")


def test_a_host_with_one_private_address_among_public_ones_is_refused(
    settings, webhook_receiver, monkeypatch
):
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = False
    port = webhook_receiver.server.server_address[1]
    real = socket.getaddrinfo

    def mixed(host, *args, **kwargs):
        if host == "mixed.example.com":
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
            ]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    with (
        httpx.Client(transport=webhook_transport(), timeout=5) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.post(f"http://mixed.example.com:{port}/hook", content=b"{}")
    assert webhook_receiver.received == []
