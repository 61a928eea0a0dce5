"""Point 7: schemathesis drives every operation of the OpenAPI schema in-process (the
Django WSGI app) with a key holding every scope: no response is a server error, and a
rejected request (4xx) changed nothing. Bounded: a few dozen cases per operation."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from distributor.services import customer_bind
from handoff.services import request_open
from tests.api.conftest import snapshot
from tests.chats.factories import ClientFactory, DialogFactory

pytestmark = pytest.mark.django_db

EXAMPLES_PER_MODE = 15


@pytest.fixture
def same_connection():
    """Requests run on the test's connection and transaction (as Django's test client
    does): the request signals must not close it."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_no_operation_errors_and_refusals_change_nothing(world, make_client, same_connection):
    api = make_client(chats=[world.chat], requests_per_minute=1_000_000)
    headers = {"Authorization": f"Bearer {api.token}"}
    # objects the generated cases can reach: an open request accepted by the manager
    second = DialogFactory(client=ClientFactory(chat=world.chat))
    request = request_open(dialog=second, reason="api")
    customer = customer_bind(client=world.dialog.client, name="Ann", email="ann@example.com")
    ids = {
        "/requests/": request.pk,
        "/customers/": customer.pk,
        "/managers/": world.manager.pk,
        "/chats/": world.chat.pk,
    }
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", WSGIHandler())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    failures = []
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        fixed = {}
        if "session_id" in names:
            fixed["session_id"] = world.dialog.session_id
        known = [pk for part, pk in ids.items() if operation.path.startswith("/api/v1" + part)]
        if "id" in names and known:
            fixed["id"] = known[0]
        for mode, path_parameters in (
            (GenerationMode.POSITIVE, fixed),
            (GenerationMode.NEGATIVE, None),
        ):
            strategy = operation.as_strategy(mode, path_parameters=path_parameters)

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES_PER_MODE,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                before = snapshot()
                response = case.call(headers=headers)
                statuses.setdefault(case.operation.label, set()).add(response.status_code)
                case.validate_response(response, checks=[not_a_server_error])
                if 400 <= response.status_code < 500:
                    assert snapshot() == before, (
                        f"{case.method} {case.formatted_path} answered "
                        f"{response.status_code} but changed something"
                    )

            try:
                run()
            except Exception as error:  # collect every operation's failure, then fail
                failures.append(f"{operation.label} ({mode.value}): {error}")
    assert not failures, "\n\n".join(failures)
    # the key got through: every reading operation answered 200 at least once
    ours = tuple(f"GET /api/v1{part}" for part in ("/dialogs/", *ids))
    reads = [label for label in statuses if label.startswith(ours)]
    assert len(reads) >= 11
    assert [label for label in reads if 200 not in statuses[label]] == []
