"""Who gets into the analyst pages: analyst_required on every view, and a login of
their own (analysts are not staff, so the admin's login refuses them)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from reports.access import is_analyst


def analyst_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous: to the login page and back. Logged in but neither staff nor an
    analyst: 403. The chat-level check is the view's (chats_for_analyst)."""

    @wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("reports:login"))
        if not is_analyst(request.user):
            # someone logged in with the wrong account: say so, and how to leave
            return render(request, "reports/no_access.html", status=403)
        return view(request, *args, **kwargs)

    return checked


class AnalystLoginView(auth_views.LoginView):
    """Analysts are not staff, so the admin's login would refuse them; this one takes
    any active user and sends them on (an account without access then gets 403)."""

    template_name = "reports/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return reverse("reports:dialog_list")

    def get_redirect_url(self) -> str:
        """`next`, unless it is this login page: a logged-in user sent there would be
        sent back again, which Django's LoginView refuses with a ValueError (a 500
        anyone could trigger with a link); the default page is used instead."""
        url = super().get_redirect_url()
        if url and urlsplit(url).path == self.request.path:
            return ""
        return url


class AnalystLogoutView(auth_views.LogoutView):
    next_page = "reports:login"
