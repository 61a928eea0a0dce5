"""Login throttling for the console and admin login pages, on top of django-axes.

Two limits, counted over the cool-off window (settings.py, "login throttling"):
- AXES_FAILURE_LIMIT failures for one username from one IP address lock that pair;
- BATON_LOGIN_FAILURE_LIMIT_PER_IP failures from one address, whatever the usernames, lock
  the address (someone trying many accounts).
An attempt refused because of a lock (even with the right password) is not a failure: it is
not recorded, so it neither counts toward either limit nor extends the lock (settings:
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False). Otherwise one person retrying a
locked account would lock out everybody behind the same address. A lock therefore ends a
cool-off after the last real failure, and the page says how many minutes are left.
A request without a usable address is never locked by address: all of them would be one.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.db.models import Sum
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import ngettext


def _ip_address(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip())) if value else None
    except ValueError:
        return None


def client_ip_address(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the client's address, REMOTE_ADDR without a proxy header.

    Each of the BATON_PROXY_COUNT proxies appends the address it saw to the header
    (BATON_CLIENT_IP_HEADER), so the entry that many from the right is the client as the
    outermost proxy saw it; anything left of it is the client's own and may be forged. A
    header that is missing, shorter than that or not an address there gives REMOTE_ADDR.
    None only when REMOTE_ADDR is not an address either (a unix socket)."""
    remote_addr = _ip_address(request.META.get("REMOTE_ADDR"))
    header = settings.BATON_CLIENT_IP_HEADER
    if not header or header not in request.META:
        return remote_addr
    entries = request.META[header].split(",")
    if len(entries) < settings.BATON_PROXY_COUNT:
        return remote_addr
    return _ip_address(entries[-settings.BATON_PROXY_COUNT]) or remote_addr


class LoginThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler (works on SQLite and PostgreSQL) with one limit per lockout
    parameter set: AXES_LOCKOUT_PARAMETERS is [["username", "ip_address"], "ip_address"].

    Axes compares one failure count with one limit, so each set's count is scaled to
    AXES_FAILURE_LIMIT: the result reaches it exactly when a set reaches its own limit."""

    def set_limits(self, request: HttpRequest, credentials: dict | None) -> list[int | None]:
        """None: the set does not count (the per-address one when the address is unknown)."""
        return [
            get_failure_limit(request, credentials),
            settings.BATON_LOGIN_FAILURE_LIMIT_PER_IP
            if getattr(request, "axes_ip_address", None) is not None
            else None,
        ]

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        limit = get_failure_limit(request, credentials)
        attempts_per_set = self.get_user_attempts(request, credentials)
        worst = 0
        for attempts, set_limit in zip(
            attempts_per_set, self.set_limits(request, credentials), strict=True
        ):
            if set_limit is None:
                continue
            failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            worst = max(worst, failures * limit // set_limit)
        return worst

    def lock_ends_at(self, request: HttpRequest, credentials: dict | None) -> datetime | None:
        """When the request's lock ends: for each set at its limit, counting failures from the
        newest attempt back, the attempt that reaches the limit must leave the cool-off window
        before the rest fall under it. None when no set is at its limit."""
        cool_off = get_cool_off(request)
        if cool_off is None:
            return None
        ends = None
        for attempts, set_limit in zip(
            self.get_user_attempts(request, credentials),
            self.set_limits(request, credentials),
            strict=True,
        ):
            if set_limit is None:
                continue
            total = 0
            newest_first = attempts.order_by("-attempt_time").values_list(
                "attempt_time", "failures_since_start"
            )
            for attempt_time, failures in newest_first:
                total += failures
                if total >= set_limit:
                    set_ends = attempt_time + cool_off
                    ends = set_ends if ends is None else max(ends, set_ends)
                    break
        return ends

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """A success clears that username's failures from that address only: logging in to
        one's own account must not wipe the address's count of guesses at other accounts."""
        pair_attempts = self.filter_user_attempts(request, credentials)[0]
        count, _ = pair_attempts.delete()
        return count


def lockout_message(ends: datetime | None = None) -> str:
    """The lock's reason with the minutes left until `ends` (the whole cool-off without it)."""
    left = ends - timezone.now() if ends is not None else get_cool_off()
    minutes = max(1, math.ceil(left.total_seconds() / 60)) if left is not None else 0
    return ngettext(
        "Too many failed attempts; try again in %(minutes)d minute.",
        "Too many failed attempts; try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login page the person was on, with the lock as the form's
    error (instead of "wrong password", which would make them try again), status 429."""
    message = lockout_message(LoginThrottleHandler().lock_ends_at(request, credentials))
    context = dict(getattr(original_response, "context_data", None) or {})
    template_name = getattr(original_response, "template_name", None)
    if template_name is None:
        return HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    form = context.get("form")
    if form is not None:
        form._errors = ErrorDict()
        form.add_error(None, message)
    context["lockout_message"] = message
    return TemplateResponse(request, template_name, context, status=429).render()
