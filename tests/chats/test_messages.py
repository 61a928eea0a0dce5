import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from chats.enums import AuthorKind, DialogStatus
from chats.models import Client, Dialog, Message
from chats.services import (
    DialogClosed,
    dialog_lock,
    dialog_start_or_resume,
    dialog_status_set,
    message_post,
)
from tests.chats.factories import ChatFactory, DialogFactory
from tests.threads import run_in_threads


@pytest.mark.django_db
def test_messages_get_consecutive_sequences_per_dialog():
    dialog, other = DialogFactory(), DialogFactory()
    sequences = [
        message_post(dialog=dialog, author_kind=AuthorKind.BOT, text=str(n))[0].sequence
        for n in range(3)
    ]
    assert sequences == [1, 2, 3]
    assert message_post(dialog=other, author_kind=AuthorKind.BOT, text="x")[0].sequence == 1


@pytest.mark.django_db
def test_message_is_published_after_commit(django_capture_on_commit_callbacks):
    dialog = DialogFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        message_post(dialog=dialog, author_kind=AuthorKind.BOT, text="hi")
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_repeated_client_msg_id_stores_once():
    dialog = DialogFactory()
    first, created = message_post(
        dialog=dialog, author_kind=AuthorKind.CLIENT, text="a", client_msg_id="m1"
    )
    again, created_again = message_post(
        dialog=dialog, author_kind=AuthorKind.CLIENT, text="a", client_msg_id="m1"
    )
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert Message.objects.filter(dialog=dialog).count() == 1


@pytest.mark.django_db
def test_closed_dialog_refuses_new_messages():
    dialog = DialogFactory()
    dialog_status_set(dialog=dialog, status=DialogStatus.CLOSED)
    with pytest.raises(DialogClosed):
        message_post(
            dialog=dialog, author_kind=AuthorKind.CLIENT, text="hello?", client_msg_id="late"
        )
    assert Message.objects.filter(dialog=dialog).count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_unique_consecutive_sequences():
    dialog = DialogFactory()

    def post(index: int) -> None:
        message_post(
            dialog=Dialog.objects.get(pk=dialog.pk),
            author_kind=AuthorKind.CLIENT,
            text=f"m{index}",
            client_msg_id=f"m{index}",
        )

    assert run_in_threads(20, post) == []
    sequences = sorted(Message.objects.filter(dialog=dialog).values_list("sequence", flat=True))
    assert sequences == list(range(1, 21))
    assert Dialog.objects.get(pk=dialog.pk).last_sequence == 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_connections_of_one_visitor_share_one_dialog():
    chat = ChatFactory()
    dialogs: list[int] = []

    def start(_index: int) -> None:
        dialog, _created = dialog_start_or_resume(chat=chat, messenger="web", external_id="v")
        dialogs.append(dialog.pk)

    assert run_in_threads(10, start) == []
    assert len(set(dialogs)) == 1
    assert Dialog.objects.count() == 1


@pytest.mark.django_db
def test_message_post_on_a_dialog_the_caller_locked_does_not_read_it_again():
    # given a caller holding the dialog's lock in its transaction
    dialog = DialogFactory()
    with transaction.atomic():
        locked = dialog_lock(dialog=dialog)
        # when it posts with the locked instance
        with CaptureQueriesContext(connection) as queries:
            message, created = message_post(dialog=locked, author_kind=AuthorKind.BOT, text="hi")
    # then no statement reads the dialog row again
    reads = [
        q["sql"] for q in queries if q["sql"].startswith("SELECT") and "chats_dialog" in q["sql"]
    ]
    assert reads == []
    assert (created, message.sequence, locked.last_sequence) == (True, 1, 1)
    assert Dialog.objects.get(pk=dialog.pk).last_sequence == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_of_one_client_msg_id_store_it_once_without_a_gap():
    # given a dialog and 20 writers sending 10 messages, each twice at once
    dialog = DialogFactory()

    def post(index: int) -> None:
        message_post(
            dialog=Dialog.objects.get(pk=dialog.pk),
            author_kind=AuthorKind.CLIENT,
            text=f"m{index // 2}",
            client_msg_id=f"m{index // 2}",
        )

    assert run_in_threads(20, post) == []
    # then each is stored once, the sequences have no gap and the dialog agrees
    stored = list(Message.objects.filter(dialog=dialog).order_by("sequence"))
    assert sorted(message.client_msg_id for message in stored) == sorted(f"m{n}" for n in range(10))
    assert [message.sequence for message in stored] == list(range(1, 11))
    dialog.refresh_from_db()
    assert (dialog.last_sequence, dialog.client_message_count) == (10, 10)
    assert dialog.last_message_at == stored[-1].created_at


@pytest.mark.django_db
def test_a_repeat_after_the_dialog_closed_returns_the_stored_message():
    dialog = DialogFactory()
    first, _created = message_post(
        dialog=dialog, author_kind=AuthorKind.CLIENT, text="a", client_msg_id="m1"
    )
    dialog_status_set(dialog=dialog, status=DialogStatus.CLOSED)
    again, created = message_post(
        dialog=dialog, author_kind=AuthorKind.CLIENT, text="a", client_msg_id="m1"
    )
    assert (created, again.pk) == (False, first.pk)
    assert Dialog.objects.get(pk=dialog.pk).last_sequence == 1


@pytest.mark.django_db
def test_a_status_set_on_a_dialog_the_caller_locked_is_one_update(
    django_capture_on_commit_callbacks,
):
    # given a caller holding the dialog's lock in its transaction
    dialog = DialogFactory()
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        locked = dialog_lock(dialog=dialog)
        # when it sets the status with the locked instance
        with CaptureQueriesContext(connection) as queries:
            returned = dialog_status_set(
                dialog=locked, status=DialogStatus.WAITING, dialog_locked=True
            )
    # then one UPDATE: no re-read, no savepoint; the watchers are told after commit
    assert [q["sql"].split(" ", 1)[0] for q in queries] == ["UPDATE"]
    assert returned is locked and locked.status == DialogStatus.WAITING
    assert Dialog.objects.get(pk=dialog.pk).status == DialogStatus.WAITING
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_a_status_set_on_a_locked_closed_dialog_is_refused_and_writes_nothing():
    dialog = DialogFactory()
    dialog_status_set(dialog=dialog, status=DialogStatus.CLOSED)
    closed_at = Dialog.objects.get(pk=dialog.pk).closed_at
    with transaction.atomic():
        locked = dialog_lock(dialog=dialog)
        with CaptureQueriesContext(connection) as queries, pytest.raises(DialogClosed):
            dialog_status_set(dialog=locked, status=DialogStatus.BOT, dialog_locked=True)
    assert list(queries) == []
    stored = Dialog.objects.get(pk=dialog.pk)
    assert (stored.status, stored.closed_at) == (DialogStatus.CLOSED, closed_at)


@pytest.mark.django_db(transaction=True)
def test_a_status_set_claiming_a_lock_outside_a_transaction_is_refused():
    dialog = DialogFactory()
    with pytest.raises(TransactionManagementError):
        dialog_status_set(dialog=dialog, status=DialogStatus.WAITING, dialog_locked=True)
    assert Dialog.objects.get(pk=dialog.pk).status == DialogStatus.BOT


@pytest.mark.django_db(transaction=True)
def test_resuming_a_dialog_locks_the_known_client_in_one_read_and_brings_it():
    # given a visitor with an open dialog
    chat = ChatFactory()
    first, _created = dialog_start_or_resume(
        chat=chat, messenger="telegram", external_id="501", name="Ann"
    )
    # when they come back (a Telegram update, a new widget socket)
    with CaptureQueriesContext(connection) as queries:
        dialog, created = dialog_start_or_resume(
            chat=chat, messenger="telegram", external_id="501", name="Ann"
        )
        names = (dialog.client.name, dialog.chat.pk)
    # then: the client found and locked by its identity, its open dialog with the chat;
    # the dialog's client and chat are read nothing more
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    assert len(reads) == 2, reads
    assert (created, dialog.pk, names) == (False, first.pk, ("Ann", chat.pk))


@pytest.mark.django_db(transaction=True)
def test_a_new_visitor_gets_one_client_and_a_dialog_with_it():
    chat = ChatFactory()
    dialog, created = dialog_start_or_resume(
        chat=chat, messenger="telegram", external_id="502", name="Bob"
    )
    again, created_again = dialog_start_or_resume(
        chat=chat, messenger="telegram", external_id="502", name="Other"
    )
    assert (created, created_again, again.pk) == (True, False, dialog.pk)
    assert Client.objects.filter(chat=chat).count() == 1
    assert (dialog.client.name, again.client.name) == ("Bob", "Bob")


@pytest.mark.django_db
def test_a_visitor_identity_no_surface_can_encode_is_refused_and_stores_nothing():
    chat = ChatFactory()
    with pytest.raises(ValidationError):
        dialog_start_or_resume(chat=chat, messenger="web", external_id="v\ud800")
    assert (Client.objects.count(), Dialog.objects.count()) == (0, 0)
