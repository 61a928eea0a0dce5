"""A script chosen to run after a conversation may be deleted while processes hold the
chat's handoff settings in their cache. The delete's SET_NULL is a queryset update that
bypasses save(), so the foreign keys' on_delete gives the settings a new revision too:
closing a request still works, and runs no script."""

import pytest

from chats.enums import AuthorKind
from chats.models import Message
from handoff.enums import CloseReason
from handoff.models import HandoffSettings
from handoff.services import handoff_settings_for, request_accept, request_close, request_open
from tests.chats.factories import DialogFactory, ScriptFactory, StepFactory
from tests.distributor.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def test_closing_after_the_after_end_script_was_deleted_closes_and_runs_no_script():
    # given: a chat whose after-end script is in this process's settings cache
    dialog = DialogFactory()
    operator = OperatorFactory(display_name="Olga", chats=[dialog.chat])
    after = ScriptFactory(chat=dialog.chat, name="After")
    StepFactory(script=after, text="Anything else?")
    HandoffSettings.objects.update_or_create(
        chat=dialog.chat, defaults={"script_after_operator_end": after}
    )
    request = request_accept(
        request=request_open(dialog=dialog, reason="headset"), operator=operator
    )
    handoff_settings_for(dialog.chat_id)
    # when: the script is deleted (in the admin), then the operator closes
    after.delete()
    closed = request_close(request=request, reason=CloseReason.OPERATOR, actor=operator)
    # then: closed (before: Script.DoesNotExist rolled the close back), no script ran
    assert closed.status == "closed"
    assert not Message.objects.filter(
        dialog=dialog, author_kind=AuthorKind.BOT, text="Anything else?"
    ).exists()
