"""Accepts run as tasks on the console socket: an unexpected failure is answered and
logged, not lost, and the accept may be sent again."""

import logging

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from handoff.models import Request
from tests.handoff.test_console_consumer import (
    console_for,
    receive_until,
    world,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = Request._meta.db_table
# the database refuses to mark a request accepted: a real error the console does not
# expect (as a lost connection or a full disk would be), from below all our code
FAILING_ACCEPT = {
    "sqlite": (
        [
            f"CREATE TRIGGER accept_fails BEFORE UPDATE ON {TABLE} "
            "WHEN NEW.status = 'accepted' BEGIN SELECT RAISE(ABORT, 'the disk is gone'); END"
        ],
        ["DROP TRIGGER accept_fails"],
    ),
    "postgresql": (
        [
            "CREATE FUNCTION accept_fails() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the disk is gone'; END $$",
            f"CREATE TRIGGER accept_fails BEFORE UPDATE ON {TABLE} FOR EACH ROW "
            "WHEN (NEW.status = 'accepted') EXECUTE FUNCTION accept_fails()",
        ],
        [f"DROP TRIGGER accept_fails ON {TABLE}", "DROP FUNCTION accept_fails()"],
    ),
}


def run_sql(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@pytest.fixture
def accepts_fail():
    """Accepts fail in the database until the returned function is called."""
    create, drop = FAILING_ACCEPT[connection.vendor]
    run_sql(create)
    dropped = []

    def heal():
        if not dropped:
            run_sql(drop)
            dropped.append(True)

    yield heal
    heal()


def request_state(request_id: int) -> tuple[str, int | None]:
    request = Request.objects.get(pk=request_id)
    return request.status, request.operator_id


async def test_an_accept_that_fails_unexpectedly_is_answered_logged_and_can_be_retried(
    world,  # noqa: F811
    accepts_fail,
    caplog,
):
    olga, _connected, _code = await console_for(world["olga"].user)
    await olga.receive_json_from(timeout=5)
    request_id = world["mine"].pk
    # when
    with caplog.at_level(logging.ERROR, logger="handoff.console_accepts"):
        await olga.send_json_to({"type": "accept", "request": request_id})
        error = await olga.receive_json_from(timeout=5)
    # then: the operator is answered, the error logged with its traceback, nothing changed
    assert (error["type"], error["code"], error["request"]) == ("error", "server_error", request_id)
    failures = [record for record in caplog.records if record.name == "handoff.console_accepts"]
    assert [record.exc_info is not None for record in failures] == [True]
    assert "the disk is gone" in caplog.text
    assert await sync_to_async(request_state)(request_id) == ("pending", None)
    # and the socket still serves, and the request may be accepted once the database heals
    await olga.send_json_to({"type": "ping"})
    assert (await olga.receive_json_from(timeout=5))["type"] == "pong"
    await sync_to_async(accepts_fail)()
    await olga.send_json_to({"type": "accept", "request": request_id})
    changed = await receive_until(olga, lambda frame: frame["type"] == "request_changed")
    assert changed[-1]["request"]["operator"] == "Olga"
    await olga.disconnect()
