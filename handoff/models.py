from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from handoff.enums import RequestReason, RequestStatus


class Request(models.Model):
    """A request for a human inside a dialog. Its allowed transitions are data
    (`TRANSITIONS`) and every surface changes it through handoff.services."""

    TRANSITIONS: dict[str, set[str]] = {
        RequestStatus.PENDING: {
            RequestStatus.ACCEPTED,
            RequestStatus.EXPIRED,
            RequestStatus.CLOSED,
        },
        RequestStatus.EXPIRED: {RequestStatus.QUEUED, RequestStatus.CLOSED},
        RequestStatus.QUEUED: {RequestStatus.ACCEPTED, RequestStatus.EXPIRED, RequestStatus.CLOSED},
        RequestStatus.ACCEPTED: {RequestStatus.CLOSED},
        RequestStatus.CLOSED: set(),
    }
    OPEN_STATUSES = (RequestStatus.PENDING, RequestStatus.QUEUED, RequestStatus.ACCEPTED)

    dialog = models.ForeignKey(
        "chats.Dialog", on_delete=models.CASCADE, related_name="handoff_requests"
    )
    status = models.CharField(
        max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    reason = models.CharField(max_length=20, choices=RequestReason.choices)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dialog"],
                condition=Q(status__in=["pending", "queued", "accepted"]),
                name="one_open_request_per_dialog",
            )
        ]

    def __str__(self) -> str:
        return f"request {self.pk} ({self.status})"

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, set())


class RequestEvent(models.Model):
    """Who did what to a request, when and why: the audit trail."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, choices=RequestStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("request event")

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"
