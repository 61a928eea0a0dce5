"""Review of issue 13's typing: the operator's "stopped" goes out after they stop
typing (4 s idle, blur). When the request left them meanwhile (the visitor ended the
chat, it was transferred), that "stopped" was refused with an error frame, which the
console shows as a notice in English ("only the operator who holds a conversation can
type in it") and the visitor kept "Olga is typing…" on screen."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from handoff.enums import CloseReason
from handoff.services import request_close
from tests.handoff.test_live_signals import (  # noqa: F401
    console_for,
    of_type,
    receive_until,
    visitor_in_request,
    world,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_stop_after_the_request_closed_clears_the_visitors_line_and_is_no_error(world):  # noqa: F811
    # given: Olga types in the request she holds; the visitor sees it
    widget, request, _welcome = await visitor_in_request(world, accepted_by=world["olga"])
    olga = await console_for(world["olga"].user)
    await olga.send_json_to({"type": "typing", "request": request.pk, "typing": True})
    await receive_until(widget, of_type("typing"))

    # when: the request closes, then Olga's page says she stopped typing
    await sync_to_async(request_close)(
        request=request.pk, actor=world["olga"], reason=CloseReason.OPERATOR
    )
    await olga.send_json_to({"type": "typing", "request": request.pk, "typing": False})
    await olga.send_json_to({"type": "ping"})

    # then: no error reaches Olga's console before her pong, and the visitor's
    # "typing" line is told to clear
    frames = await receive_until(olga, of_type("pong"))
    assert not [frame for frame in frames if frame["type"] == "error"]
    stopped = (await receive_until(widget, of_type("typing")))[-1]
    assert stopped == {"type": "typing", "name": "Olga", "typing": False}

    # and: a new "typing" in the closed request is still refused
    await olga.send_json_to({"type": "typing", "request": request.pk, "typing": True})
    error = (await receive_until(olga, of_type("error")))[-1]
    assert error["request"] == request.pk
    await widget.disconnect()
    await olga.disconnect()
