"""The operator console pages: thin; the live part is handoff.consumers."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from distributor.enums import Presence
from handoff import selectors
from handoff.enums import RequestStatus
from handoff.models import Request


@require_GET
@login_required(login_url="console_login")
def console(request: HttpRequest, request_id: int | None = None) -> HttpResponse:
    operator = selectors.operator_for_user(request.user)
    if operator is None:
        # a person who logged in with the wrong account: say so, and how to leave
        return render(request, "handoff/not_operator.html", status=403)
    if request_id is not None:
        try:
            selectors.request_get_for_operator(operator=operator, request_id=request_id)
        except Request.DoesNotExist:
            raise Http404("No such request.") from None
    return render(
        request,
        "handoff/console.html",
        {
            "operator": operator,
            "selected_request": request_id,
            # the statuses' labels in the operator's language, for the lists and the header
            "request_statuses": RequestStatus.choices,
            # the header's presence toggle (handoff.consumers: connect and heartbeat)
            "presences": Presence.choices,
        },
    )


class ConsoleLoginView(auth_views.LoginView):
    template_name = "handoff/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return "/console/"


class ConsoleLogoutView(auth_views.LogoutView):
    """Log out; the console of this session closes (handoff.access, on every logout)."""

    next_page = "console_login"
