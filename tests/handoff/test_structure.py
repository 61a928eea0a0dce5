"""Issue 9's structure rules for handoff: no import circle between the services and
the tasks, service modules split by concern, and the trigger task still reached."""

import ast
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker

from chats.models import Dialog
from chats.services import dialog_receive_client_message
from config.celery import app as celery_app
from tests.chats.factories import ChatFactory, DialogFactory
from tests.servers import wait_until

SERVICES = Path(__file__).resolve().parents[2] / "handoff" / "services"


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_no_service_module_imports_the_tasks():
    importing = [
        path.name
        for path in sorted(SERVICES.glob("*.py"))
        if "handoff.tasks" in imported_modules(path)
    ]
    assert importing == []


def test_service_modules_stay_under_four_hundred_lines():
    long = {
        path.name: lines
        for path in SERVICES.glob("*.py")
        if (lines := len(path.read_text().splitlines())) > 400
    }
    assert long == {}


@pytest.mark.django_db(transaction=True)
def test_a_visitors_ask_in_trigger_mode_reaches_the_trigger_task_by_name():
    dialog = DialogFactory(client__chat=ChatFactory(headset_mode="trigger"))
    with start_worker(celery_app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        # when
        dialog_receive_client_message(
            dialog=dialog, text="I want to talk to a human", client_msg_id="m1"
        )
        # then: the worker ran handoff.check_trigger, which revealed the headset
        revealed = wait_until(
            lambda: Dialog.objects.filter(pk=dialog.pk, headset_revealed=True).first(),
            seconds=30,
        )
    assert revealed is not None
