"""Bad input to the Bot API proxy: every refusal is shaped like Telegram's, forwards
nothing and changes nothing; the token never reaches a log."""

from __future__ import annotations

import logging

import httpx
import pytest
from django.db import connection

from telegram_bridge.models import OutboundMessage, TelegramBot
from telegram_bridge.services.proxy import calls
from tests.servers import free_port
from tests.telegram_bridge.proxy_helpers import Proxy, open_topic, proxy_for

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = 4402
HOOK = "https://parallel.example.com/hook"
WRONG_SECRET = "not-the-token"


@pytest.fixture
def proxy(telegram_world, live_server, settings, caplog) -> Proxy:
    # INFO, as in production (at DEBUG python-telegram-bot logs its Bot API URL itself)
    caplog.set_level(logging.INFO)
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = True
    made = proxy_for(telegram_world, live_server.url)
    yield made
    # whatever a test did, no token (the bot's, or a wrong one) is in a log record
    records = caplog.get_records("call")
    for record in records:
        message = logging.Formatter().format(record)  # with any traceback
        assert made.token.split(":")[1] not in message
        assert WRONG_SECRET not in message


def nothing_stored(proxy: Proxy) -> bool:
    bot = proxy.fresh()
    return (
        bot.parallel_webhook_url,
        bot.parallel_webhook_secret,
        bot.parallel_allowed_updates,
    ) == (
        "",
        "",
        [],
    )


def test_a_wrong_token_is_unauthorized_and_forwards_nothing(proxy):
    open_topic(proxy.bot, CLIENT)
    other_token = proxy.token.split(":")[0] + ":" + WRONG_SECRET
    for method in ("sendMessage", "setWebhook", "getUpdates"):
        response = proxy.post(
            method, token=other_token, json={"chat_id": CLIENT, "text": "x", "url": HOOK}
        )
        assert response.status_code == 401
        assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    download = httpx.get(f"{proxy.base}file/bot{other_token}/files/x", timeout=10)
    assert download.status_code == 401
    assert proxy.world.api.calls() == []
    assert nothing_stored(proxy)
    assert OutboundMessage.objects.count() == 0


def test_another_bots_token_is_unauthorized_too(proxy):
    other = TelegramBot.objects.create(
        chat=proxy.bot.chat.__class__.objects.create(name="B"), token="99:other"
    )
    response = proxy.post("getMe", token=other.token)
    assert response.status_code == 401
    assert proxy.world.api.calls() == []


def test_an_unknown_key_or_address_is_not_found(proxy, live_server):
    unknown = httpx.post(
        f"{live_server.url}/telegram/proxy/no-such-key/bot{proxy.token}/getMe", timeout=10
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    for path in (f"bot{proxy.token}", f"bot{proxy.token}/send..", f"x/bot{proxy.token}/getMe"):
        response = httpx.get(proxy.base + path, timeout=10)
        assert response.status_code == 404
        assert response.json()["error_code"] == 404
    assert httpx.get(f"{proxy.base}file/bot{proxy.token}/../secret", timeout=10).status_code == 404
    assert proxy.world.api.calls() == []


def test_other_http_methods_log_out_and_close_are_refused(proxy):
    put = httpx.put(proxy.url("sendMessage"), json={"chat_id": CLIENT, "text": "x"}, timeout=10)
    assert put.status_code == 405
    assert put.json()["ok"] is False
    for method in ("logOut", "close", "LOGOUT"):
        response = proxy.post(method)
        assert response.status_code == 400
        assert "does not forward" in response.json()["description"]
    assert proxy.world.api.calls() == []


def test_a_webhook_over_plain_http_is_refused_unless_allowed(proxy, settings):
    settings.TELEGRAM_PROXY_ALLOW_HTTP = False
    response = proxy.post("setWebhook", data={"url": "http://parallel.example.com/hook"})
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
    }
    assert nothing_stored(proxy)
    settings.TELEGRAM_PROXY_ALLOW_HTTP = True
    assert proxy.post("setWebhook", data={"url": "http://parallel.example.com/hook"}).json()["ok"]


def test_a_webhook_into_batons_own_network_is_refused(proxy, settings):
    settings.BATON_WEBHOOK_ALLOW_PRIVATE = False
    for url in ("https://127.0.0.1/hook", "https://10.1.2.3:8443/hook", "https://[::1]/hook"):
        response = proxy.post("setWebhook", json={"url": url})
        assert response.status_code == 400, url
        assert response.json()["description"].startswith("Bad Request: bad webhook: ")
    assert nothing_stored(proxy)


def test_batons_own_address_is_refused_as_the_parallel_webhook(proxy, settings, live_server):
    settings.BATON_PUBLIC_URL = live_server.url
    settings.TELEGRAM_PROXY_ALLOW_HTTP = True
    for path in (f"webhook/{proxy.bot.webhook_key}/", f"proxy/{proxy.bot.webhook_key}/x"):
        response = proxy.post("setWebhook", json={"url": f"{live_server.url}/telegram/{path}"})
        assert response.status_code == 400
        assert response.json()["description"] == (
            "Bad Request: bad webhook: that is Baton's own address"
        )
    assert nothing_stored(proxy)


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://user:pw@parallel.example.com/hook"},
        {"url": "ftp://parallel.example.com/hook"},
        {"url": " https://parallel.example.com/hook"},
        {"url": "https://parallel.example.com/" + "x" * 600},
        {"url": ["https://parallel.example.com/hook"]},
        {"url": HOOK, "secret_token": "has space"},
        {"url": HOOK, "secret_token": "x" * 257},
        {"url": HOOK, "secret_token": 5},
        {"url": HOOK, "allowed_updates": "not json"},
        {"url": HOOK, "allowed_updates": [1, 2]},
    ],
)
def test_a_bad_set_webhook_is_refused_and_stores_nothing(proxy, body):
    response = proxy.post("setWebhook", json=body)
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["description"].startswith("Bad Request: ")
    assert nothing_stored(proxy)
    assert proxy.world.api.calls() == []


def test_a_self_signed_certificate_is_refused(proxy):
    response = proxy.post(
        "setWebhook", data={"url": HOOK}, files={"certificate": ("cert.pem", b"-----BEGIN")}
    )
    assert response.status_code == 400
    assert "certificate" in response.json()["description"]
    assert nothing_stored(proxy)


def test_garbage_and_lone_surrogates_in_a_set_webhook_are_refused(proxy):
    bodies = [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"url": "https://parallel.example.com/\\ud800"}', "application/json"),
        (b'{"url": "' + HOOK.encode() + b'", "secret_token": "\\udfff"}', "application/json"),
        (b"url=%FF%FE", "application/x-www-form-urlencoded"),
        (b"--x\r\ngarbage", "multipart/form-data; boundary=x"),
        (b"<xml/>", "application/xml"),
    ]
    for body, content_type in bodies:
        response = proxy.post("setWebhook", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 400, body
        assert response.json()["ok"] is False
    assert nothing_stored(proxy)
    assert proxy.world.api.calls() == []


def test_garbage_to_a_forwarded_method_gets_telegrams_own_answer(proxy):
    open_topic(proxy.bot, CLIENT)
    garbage = proxy.post(
        "sendMessage", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400
    assert garbage.json()["ok"] is False
    # a lone surrogate is Telegram's to judge: forwarded as it came
    surrogate = proxy.post(
        "sendMessage",
        content=b'{"chat_id": %d, "text": "\\ud800"}' % CLIENT,
        headers={"Content-Type": "application/json"},
    )
    assert proxy.world.api.calls("sendMessage")[-1].params["text"] == "\ud800"
    assert surrogate.status_code == 200
    assert surrogate.content.count(b"\\ud800") == 1


def test_a_body_over_the_upload_limit_is_refused_before_telegram(proxy, monkeypatch, settings):
    monkeypatch.setattr(calls, "MAX_BODY", 10_000)
    upload = proxy.post(
        "sendDocument", data={"chat_id": str(CLIENT)}, files={"document": ("a.bin", b"x" * 20_000)}
    )
    assert upload.status_code == 413
    assert upload.json() == {
        "ok": False,
        "error_code": 413,
        "description": "Request Entity Too Large",
    }
    # the methods Baton answers read their body whole, within DATA_UPLOAD_MAX_MEMORY_SIZE
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = proxy.post("setWebhook", json={"url": HOOK, "secret_token": "a" * 200, "pad": "x" * 2000})
    assert big.status_code == 413
    assert proxy.world.api.calls() == []
    assert nothing_stored(proxy)


def test_telegram_unreachable_is_a_telegram_shaped_bad_gateway(proxy, settings):
    settings.TELEGRAM_API_URL = f"http://127.0.0.1:{free_port()}/bot"
    settings.TELEGRAM_FILE_URL = f"http://127.0.0.1:{free_port()}/file/bot"
    response = proxy.post("sendMessage", json={"chat_id": CLIENT, "text": "x"})
    assert response.status_code == 502
    assert response.json() == {
        "ok": False,
        "error_code": 502,
        "description": "Bad Gateway: Telegram did not answer",
    }
    download = httpx.get(f"{proxy.base}file/bot{proxy.token}/files/a", timeout=10)
    assert download.status_code == 502


@pytest.fixture
def bots_refusing_updates():
    """The database refuses every change of a bot row (a real failure, not a stand-in)."""
    if connection.vendor != "sqlite":
        pytest.skip("the trigger is written for SQLite")
    table = TelegramBot._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER refuse_bot_update BEFORE UPDATE ON {table} "  # noqa: S608
            "BEGIN SELECT RAISE(ABORT, 'injected: bots are read-only'); END"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_bot_update")


def test_an_unexpected_failure_is_a_telegram_shaped_500_that_logs_no_token(
    proxy, bots_refusing_updates, caplog
):
    response = proxy.post("setWebhook", json={"url": HOOK})
    assert response.status_code == 500
    assert response.json() == {
        "ok": False,
        "error_code": 500,
        "description": "Internal Server Error",
    }
    assert any("a call failed" in record.getMessage() for record in caplog.records)
    assert proxy.world.api.calls("setWebhook") == []
