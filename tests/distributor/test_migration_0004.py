"""distributor 0004, handoff 0010 and telegram_bridge 0006 (issue 9: one name in code):
Manager becomes Operator and the Telegram ManagerAccount / ManagerAlert / ManagerSession
become OperatorAccount / OperatorAlert / OperatorSession, their `manager` fields
`operator`. Every row keeps its id and every foreign key (requests, the chats an operator
serves, read marks, Telegram accounts, links, alerts, sessions, sends) still points at the
same row; queued sends "to a manager" say purpose "operator". Going back restores the old
names and values."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from distributor.models import Operator
from handoff.models import ConversationRead, Request
from telegram_bridge.models import (
    ConnectLink,
    OperatorAccount,
    OperatorAlert,
    OperatorSession,
    OutboundMessage,
)
from tests.chats.factories import ChatFactory, DialogFactory
from tests.distributor.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("distributor", "0003_customers_from_chats"),
    ("handoff", "0009_feedback_and_chat_settings"),
    ("telegram_bridge", "0005_scrub_lone_surrogates"),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_the_rename():
    """The schema with the old names; migrated forward again whatever the test did."""
    try:
        yield migrate(BEFORE)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def old_world(old):
    """Rows of every table that names the manager, written through the old models."""
    manager_model = old.get_model("distributor", "Manager")
    request_model = old.get_model("handoff", "Request")
    shop, other = ChatFactory(name="Shop"), ChatFactory(name="Other")
    olga = manager_model.objects.create(
        id=7, user_id=UserFactory(username="olga").pk, display_name="Olga"
    )
    ivan = manager_model.objects.create(
        id=42, user_id=UserFactory(username="ivan").pk, display_name="Ivan"
    )
    olga.chats.add(shop.pk, other.pk)
    ivan.chats.add(shop.pk)
    dialog = DialogFactory(chat=shop)
    request = request_model.objects.create(
        dialog_id=dialog.pk, chat_id=shop.pk, reason="headset", status="accepted", operator=olga
    )
    request.rejected_by.add(ivan)
    old.get_model("handoff", "ConversationRead").objects.create(
        manager=olga, dialog_id=dialog.pk, last_read_sequence=3
    )
    bot = old.get_model("telegram_bridge", "TelegramBot").objects.create(
        chat_id=shop.pk, token="1:abc", username="shop_bot"
    )
    account = old.get_model("telegram_bridge", "ManagerAccount").objects.create(
        bot=bot, manager=olga, telegram_user_id=601, current_request=request
    )
    old.get_model("telegram_bridge", "ConnectLink").objects.create(
        bot=bot, manager=ivan, token="link-for-ivan", expires_at="2030-01-01T00:00:00Z"
    )
    alert = old.get_model("telegram_bridge", "ManagerAlert").objects.create(
        request=request, account=account, state="accepted"
    )
    old.get_model("telegram_bridge", "ManagerSession").objects.create(
        request=request, account=account
    )
    outbox = old.get_model("telegram_bridge", "OutboundMessage").objects
    outbox.create(bot=bot, telegram_chat_id=601, method="sendMessage", purpose="manager")
    outbox.create(bot=bot, telegram_chat_id=601, method="sendMessage", purpose="alert", alert=alert)
    outbox.create(bot=bot, telegram_chat_id=5, method="sendMessage", purpose="client")
    return {"shop": shop.pk, "other": other.pk, "request": request.pk, "dialog": dialog.pk}


def test_managers_become_operators_with_their_ids_and_every_key(before_the_rename):
    # given: managers, their chats, a request one holds and the other rejected, a read
    # mark, and the Telegram account, link, alert, session and sends of them
    ids = old_world(before_the_rename)

    # when
    # (to the latest schema: the assertions read through the current models)
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # then: the same people under the new name, serving the same chats
    assert list(Operator.objects.order_by("pk").values_list("pk", "display_name")) == [
        (7, "Olga"),
        (42, "Ivan"),
    ]
    olga, ivan = Operator.objects.get(pk=7), Operator.objects.get(pk=42)
    assert sorted(olga.chats.values_list("pk", flat=True)) == [ids["shop"], ids["other"]]
    assert olga.user.operator == olga
    assert sorted(ivan.user.operator.chats.values_list("pk", flat=True)) == [ids["shop"]]
    # the request's keys and the chat's reverse relation
    request = Request.objects.get(pk=ids["request"])
    assert request.operator == olga
    assert list(request.rejected_by.all()) == [ivan]
    assert sorted(request.chat.operators.values_list("pk", flat=True)) == [7, 42]
    read = ConversationRead.objects.get()
    assert (read.operator, read.dialog_id, read.last_read_sequence) == (olga, ids["dialog"], 3)
    # Telegram: the account and what hangs on it
    account = OperatorAccount.objects.get()
    assert (account.operator, account.telegram_user_id, account.current_request) == (
        olga,
        601,
        request,
    )
    assert list(account.bot.operator_accounts.all()) == [account]
    assert ConnectLink.objects.get().operator == ivan
    alert = OperatorAlert.objects.get()
    assert (alert.account, alert.request, alert.state) == (account, request, "accepted")
    session = OperatorSession.objects.get()
    assert (session.account, session.request) == (account, request)
    assert sorted(OutboundMessage.objects.values_list("purpose", "alert_id")) == [
        ("alert", alert.pk),
        ("client", None),
        ("operator", None),
    ]
    # the unique constraints are in the database under their new names
    with connection.cursor() as cursor:
        on_accounts = connection.introspection.get_constraints(
            cursor, OperatorAccount._meta.db_table
        )
        on_alerts = connection.introspection.get_constraints(cursor, OperatorAlert._meta.db_table)
    assert on_accounts["telegram_operator_once_per_bot"]["columns"] == ["bot_id", "operator_id"]
    assert on_alerts["one_alert_per_operator"]["columns"] == ["request_id", "account_id"]
    assert "telegram_manager_once_per_bot" not in on_accounts


def test_going_back_restores_the_old_names_and_values(before_the_rename):
    # given: the rows, renamed forward
    ids = old_world(before_the_rename)
    # (to the latest schema: the assertions read through the current models)
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # when
    old = migrate(BEFORE)

    # then
    manager_model = old.get_model("distributor", "Manager")
    assert list(manager_model.objects.order_by("pk").values_list("pk", "display_name")) == [
        (7, "Olga"),
        (42, "Ivan"),
    ]
    request = old.get_model("handoff", "Request").objects.get(pk=ids["request"])
    assert request.operator_id == 7
    assert list(request.rejected_by.values_list("pk", flat=True)) == [42]
    assert old.get_model("handoff", "ConversationRead").objects.get().manager_id == 7
    assert old.get_model("telegram_bridge", "ManagerAccount").objects.get().manager_id == 7
    assert old.get_model("telegram_bridge", "ConnectLink").objects.get().manager_id == 42
    assert old.get_model("telegram_bridge", "ManagerSession").objects.count() == 1
    assert sorted(
        old.get_model("telegram_bridge", "OutboundMessage").objects.values_list(
            "purpose", flat=True
        )
    ) == ["alert", "client", "manager"]
