"""The fake Bot API server and the update builders, driven by python-telegram-bot itself."""

from __future__ import annotations

import datetime as dt
import threading
import time
import warnings

import httpx
import pytest
from telegram import (
    Bot,
    ChatMemberBanned,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken, RetryAfter

from tests.telegram_bridge.fake_bot_api import FakeBotApi
from tests.telegram_bridge.telegram_updates import (
    blocked_update,
    callback_update,
    document_update,
    group_text_update,
    photo_update,
    private_chat,
    text_update,
    unblocked_update,
)

TOKEN = "7000000001:AAFakeTokenForTests"
BOT_ID = 7000000001
USERNAME = "baton_test_bot"


@pytest.fixture
def api():
    with FakeBotApi() as server:
        server.add_bot(TOKEN, bot_id=BOT_ID, username=USERNAME)
        yield server


@pytest.fixture
async def bot(api):
    async with Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as client:
        yield client


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(item, callback_data=item)] for item in data])


def seconds(retry_after: int | float | dt.timedelta) -> float:
    """RetryAfter.retry_after is an int, or a timedelta under PTB_TIMEDELTA=true."""
    if isinstance(retry_after, dt.timedelta):
        return retry_after.total_seconds()
    return retry_after


# -- the server --------------------------------------------------------------------------------


async def test_get_me_returns_the_registered_bot(api, bot):
    me = await bot.get_me()

    assert (me.id, me.username, me.first_name, me.is_bot) == (BOT_ID, USERNAME, "Baton", True)
    assert me.can_join_groups is True
    assert bot.username == USERNAME  # cached by `async with` (initialize calls getMe)
    assert len(api.succeeded("getMe")) == 2


async def test_send_message_records_decoded_params(api, bot):
    message = await bot.send_message(5, "42", reply_markup=keyboard("take:1"))

    [call] = api.calls("sendMessage", chat_id=5)
    assert call.params["chat_id"] == 5
    assert call.params["text"] == "42"  # stays a string, unlike chat_id
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "take:1", "callback_data": "take:1"}]]
    }
    assert call.token == TOKEN and not call.failed and call.error_code is None
    assert message.text == "42" and message.chat.id == 5 and message.chat.type == "private"
    assert message.from_user.id == BOT_ID
    assert message.reply_markup.inline_keyboard[0][0].callback_data == "take:1"


async def test_message_ids_increase_per_chat(bot):
    first = await bot.send_message(5, "a")
    second = await bot.send_message(5, "b")
    other = await bot.send_message(-100123, "c")

    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert other.chat.type == "supergroup"


async def test_edit_message_reply_markup(api, bot):
    sent = await bot.send_message(5, "pick one", reply_markup=keyboard("a", "b"))

    edited = await bot.edit_message_reply_markup(
        chat_id=5, message_id=sent.message_id, reply_markup=keyboard("c")
    )

    assert edited.message_id == sent.message_id and edited.text == "pick one"
    assert edited.edit_date is not None
    assert [row[0].callback_data for row in edited.reply_markup.inline_keyboard] == ["c"]
    [call] = api.succeeded("editMessageReplyMarkup", chat_id=5, message_id=sent.message_id)
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "c", "callback_data": "c"}]]
    }


async def test_edit_message_text_without_markup_drops_the_keyboard(bot):
    sent = await bot.send_message(5, "pick one", reply_markup=keyboard("a"))

    edited = await bot.edit_message_text("taken", chat_id=5, message_id=sent.message_id)

    assert edited.text == "taken" and edited.reply_markup is None


async def test_answer_callback_query(api, bot):
    assert await bot.answer_callback_query("4000000000000000001", text="Taken") is True

    [call] = api.succeeded("answerCallbackQuery")
    assert call.params == {"callback_query_id": "4000000000000000001", "text": "Taken"}


async def test_unknown_token_is_rejected(api):
    other = Bot("1:unknown", base_url=api.base_url, base_file_url=api.base_file_url)

    with pytest.raises(InvalidToken):
        async with other:
            pass

    [call] = api.calls("getMe")
    assert call.token == "1:unknown" and call.failed and call.error_code == 401


async def test_unknown_method_answers_404(api, bot):
    with pytest.raises(EndPointNotFound):  # PTB turns a 404 for do_api_request into this
        await bot.do_api_request("no_such_method")

    assert api.calls("noSuchMethod")[0].error_code == 404


async def test_flood_failure_then_success(api, bot):
    api.fail_flood("sendMessage", retry_after=7)

    with pytest.raises(RetryAfter) as raised, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB deprecation warning about int retry_after
        await bot.send_message(5, "hi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert seconds(raised.value.retry_after) == 7

    message = await bot.send_message(5, "hi")
    assert message.message_id == 1  # the failed call used no message id
    [failed, succeeded] = api.calls("sendMessage")
    assert (failed.failed, failed.error_code) == (True, 429)
    assert not succeeded.failed and failed.at <= succeeded.at


async def test_blocked_failure_is_forbidden(api, bot):
    api.fail_blocked("sendMessage")

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(5, "hi")


async def test_bad_request_failure(api, bot):
    api.fail_bad_request("sendMessage")

    # PTB drops the "Bad Request: " prefix and capitalises the rest
    with pytest.raises(BadRequest, match="^Chat not found$"):
        await bot.send_message(5, "hi")
    assert api.succeeded("sendMessage") == []
    assert api.calls("sendMessage")[0].error_code == 400


async def test_failure_for_one_chat_leaves_other_chats_alone(api, bot):
    api.fail_blocked("sendMessage", chat_id=5, times=-1)

    await bot.send_message(6, "fine")
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(5, "blocked")
    api.clear_failures()
    await bot.send_message(5, "unblocked")

    assert [call.params["text"] for call in api.succeeded("sendMessage")] == ["fine", "unblocked"]
    assert len(api.calls("sendMessage", chat_id=5)) == 3


async def test_failure_for_one_method_leaves_others_alone(api, bot):
    api.fail_flood("editMessageText", times=2)

    await bot.send_message(5, "still works")

    assert len(api.succeeded("sendMessage")) == 1


async def test_get_file_and_download(api, bot):
    api.add_file("doc-file-id", b"%PDF-1.4 \x00\xff binary\r\n--")

    file = await bot.get_file("doc-file-id")
    content = await file.download_as_bytearray()

    assert bytes(content) == b"%PDF-1.4 \x00\xff binary\r\n--"
    assert file.file_size == len(content)
    assert file.file_path == f"{api.base_file_url}{TOKEN}/files/doc-file-id"
    assert api.succeeded("downloadFile", file_path="files/doc-file-id")


async def test_get_file_for_unknown_file_id_is_bad_request(bot):
    with pytest.raises(BadRequest, match="^Invalid file_id$"):
        await bot.get_file("nope")


async def test_send_photo_upload_is_recorded(api, bot):
    image = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake image"

    message = await bot.send_photo(5, image, caption="look", filename="shot.png")

    [call] = api.succeeded("sendPhoto", chat_id=5, caption="look")
    assert call.files["photo"]["content"] == image
    assert call.files["photo"]["filename"] == "shot.png"
    assert message.caption == "look"
    uploaded_id = message.photo[-1].file_id
    assert bytes(await (await bot.get_file(uploaded_id)).download_as_bytearray()) == image


async def test_send_photo_and_document_by_file_id(api, bot):
    photo = await bot.send_photo(5, "AgACAgIAAxkBAAIB")
    document = await bot.send_document(5, "BQACAgIAAxkBAAIC", caption="the report")

    assert photo.photo[-1].file_id == "AgACAgIAAxkBAAIB"
    assert document.document.file_id == "BQACAgIAAxkBAAIC" and document.caption == "the report"
    assert api.succeeded("sendPhoto")[0].params["photo"] == "AgACAgIAAxkBAAIB"
    assert api.succeeded("sendPhoto")[0].files == {}


async def test_send_document_upload(api, bot):
    message = await bot.send_document(5, b"a,b\n1,2\n", filename="report.csv")

    assert message.document.file_name == "report.csv"
    assert message.document.mime_type == "text/csv"
    assert api.succeeded("sendDocument")[0].files["document"]["content"] == b"a,b\n1,2\n"


async def test_copy_message_and_webhook(api, bot):
    copied = await bot.copy_message(chat_id=-100777, from_chat_id=5, message_id=3)
    assert copied.message_id == 1

    await bot.set_webhook("https://baton.example/telegram/hook", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://baton.example/telegram/hook"
    assert api.webhook(TOKEN)["secret_token"] == "s3cret"
    await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""


async def test_get_chat_and_delete_message(api, bot):
    chat = await bot.get_chat(-100555)
    assert (chat.id, chat.type) == (-100555, "supergroup")

    assert await bot.delete_message(5, 1) is True
    assert api.succeeded("deleteMessage", chat_id=5, message_id=1)


def test_wait_for_times_out_with_a_listing(api):
    with pytest.raises(AssertionError) as raised:
        api.wait_for("sendMessage", chat_id=5, timeout=0.1)

    assert "expected 1 successful sendMessage call(s) matching {'chat_id': 5}" in str(raised.value)
    assert "(none)" in str(raised.value)


async def test_wait_for_sees_calls_from_another_thread(api):
    def send_later() -> None:
        time.sleep(0.1)
        httpx.post(f"{api.base_url}{TOKEN}/sendMessage", json={"chat_id": 9, "text": "late"})

    threading.Thread(target=send_later).start()
    [call] = await api.wait_for_async("sendMessage", chat_id=9, timeout=5)

    assert call.params["text"] == "late"
    with pytest.raises(AssertionError, match=r"sendMessage \[ok\]"):
        api.wait_for("sendMessage", count=2, chat_id=9, timeout=0.05)


def test_query_string_get_and_clear(api):
    body = httpx.get(f"{api.base_url}{TOKEN}/sendMessage?chat_id=-5&text=007").json()

    assert body["ok"] is True and body["result"]["chat"]["id"] == -5
    assert api.calls("sendMessage")[0].params == {"chat_id": -5, "text": "007"}
    api.clear()
    assert api.calls() == []


# -- the update builders -----------------------------------------------------------------------


def test_private_chat():
    assert private_chat(5) == {"id": 5, "first_name": "Ann", "type": "private"}


async def test_text_update_parses(bot):
    update = Update.de_json(text_update(10, user_id=5, text="hello", username="ann"), bot)

    assert update.update_id == 10
    assert update.message.message_id == 10
    assert update.message.text == "hello" and update.message.entities == ()
    assert update.effective_user.id == 5 and update.effective_user.username == "ann"
    assert update.effective_chat.type == "private" and update.effective_chat.id == 5
    assert abs(update.message.date.timestamp() - time.time()) < 5


async def test_command_update_has_bot_command_entity(bot):
    update = Update.de_json(text_update(11, user_id=5, text="/start abc", message_id=3), bot)

    assert update.message.message_id == 3
    [entity] = update.message.entities
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 6)
    assert update.message.parse_entity(entity) == "/start"


async def test_photo_update_parses(bot):
    update = Update.de_json(photo_update(12, user_id=5, file_id="photo-1", caption="pic"), bot)

    assert update.message.photo[-1].file_id == "photo-1"
    assert len(update.message.photo) > 1
    assert update.message.caption == "pic"
    assert "caption" not in photo_update(12, user_id=5, file_id="p")["message"]


async def test_document_update_parses(bot):
    update = Update.de_json(document_update(13, user_id=5, file_id="doc-1"), bot)

    document = update.message.document
    assert (document.file_id, document.file_name, document.mime_type) == (
        "doc-1",
        "report.pdf",
        "application/pdf",
    )


async def test_callback_update_parses(bot):
    update = Update.de_json(
        callback_update(14, user_id=5, data="take:9", message_id=4, bot_id=BOT_ID), bot
    )

    query = update.callback_query
    assert query.data == "take:9" and isinstance(query.id, str)
    assert query.from_user.id == 5 and query.chat_instance
    assert query.message.message_id == 4 and query.message.from_user.id == BOT_ID
    assert query.message.chat.id == 5 and query.message.chat.type == "private"
    assert update.effective_chat.id == 5


async def test_callback_update_in_a_group(bot):
    update = Update.de_json(callback_update(15, user_id=5, data="x", chat_id=-100200), bot)

    assert update.callback_query.message.chat.type == "supergroup"
    assert update.effective_chat.id == -100200


async def test_blocked_and_unblocked_updates_parse(bot):
    blocked = Update.de_json(blocked_update(16, user_id=5, bot_id=BOT_ID), bot)
    unblocked = Update.de_json(unblocked_update(17, user_id=5, bot_id=BOT_ID), bot)

    member = blocked.my_chat_member
    assert isinstance(member.new_chat_member, ChatMemberBanned)
    assert member.new_chat_member.status == "kicked"
    assert member.old_chat_member.status == "member"
    assert member.new_chat_member.user.id == BOT_ID and member.from_user.id == 5
    assert blocked.effective_chat.id == 5
    assert isinstance(unblocked.my_chat_member.new_chat_member, ChatMemberMember)


async def test_group_text_update_parses(bot):
    update = Update.de_json(
        group_text_update(18, chat_id=-100300, user_id=5, text="/help@baton_bot"), bot
    )

    assert update.message.text == "/help@baton_bot"
    assert update.effective_chat.id == -100300 and update.effective_chat.type == "supergroup"
    assert update.effective_user.id == 5
    assert update.message.entities[0].length == len("/help@baton_bot")


def test_stop_frees_the_port():
    api = FakeBotApi().start()
    api.add_bot(TOKEN, bot_id=BOT_ID, username=USERNAME)
    assert httpx.get(f"{api.base_url}{TOKEN}/getMe").json()["result"]["username"] == USERNAME

    api.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{api.base_url}{TOKEN}/getMe")
