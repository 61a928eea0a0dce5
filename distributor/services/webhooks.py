"""API bots' webhooks: events recorded as WebhookDelivery rows in the transaction that
writes what they tell, sent after commit, signed, retried with exponential backoff for a
day, then dead (Admin lists them and replays them).

Signature (Stripe-like): `X-Baton-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
the HMAC-SHA256, keyed with the bot's signing secret, of `"<t>.<raw body>"` (the body's
bytes exactly as sent). `X-Baton-Event` names the event, `X-Baton-Delivery` is the event
id (the same on every retry: a bot de-duplicates on it).

Order per dialog: a delivery is not sent while an earlier delivery of the same bot and
dialog is still pending (neither delivered nor dead), so a bot never sees message N+1
before message N; a dead delivery no longer holds the ones after it back. When a delivery
succeeds (or dies) the next one of its dialog is sent at once.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import ssl
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from distributor.enums import DeliveryStatus
from distributor.models import ApiBot, WebhookDelivery

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Baton-Signature"
EVENT_HEADER = "X-Baton-Event"
DELIVERY_HEADER = "X-Baton-Delivery"

# backoff after the n-th failed attempt: FIRST_RETRY * 2**(n-1), at most MAX_RETRY; a
# delivery is given up (dead) when its next attempt would fall past RETRY_WINDOW after it
# was created
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(hours=1)
RETRY_WINDOW = timedelta(hours=24)
# how long one attempt may take (connect, send, answer)
SEND_TIMEOUT_SECONDS = 5.0
# a claimed delivery is not claimed again for this long (a sender that died mid-attempt
# leaves it to the sweep after that)
CLAIM_LEASE = timedelta(seconds=60)
# the beat sweep sends at most this many due deliveries per run
SWEEP_BATCH = 200
ERROR_MAX = 500


class WebhookUrlRefused(ValidationError):
    pass


# --- signing ------------------------------------------------------------------------------


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" keyed with `secret`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def webhook_signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={webhook_signature(secret=secret, timestamp=timestamp, body=body)}"


def webhook_body(payload: dict) -> bytes:
    """The bytes sent (and signed) for a payload: compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# --- the webhook's address ------------------------------------------------------------------


def _private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


ADDRESS_REFUSED = "refused: the webhook's host resolves to a non-public address"


class CheckedNetworkBackend(httpcore.NetworkBackend):
    """httpcore's network backend for webhooks: the host is resolved ONCE, every address
    it resolves to is checked (unless BATON_WEBHOOK_ALLOW_PRIVATE), and the connection is
    made to a checked address, so a host that resolves again differently (DNS rebinding)
    cannot lead Baton into its own network. TLS still verifies the certificate and sends
    SNI for the host name (httpcore's connection takes them from the URL, not from here)."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options=None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as error:
            raise httpcore.ConnectError(f"the host does not resolve: {error}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not addresses:
            raise httpcore.ConnectError("the host does not resolve")
        if not settings.BATON_WEBHOOK_ALLOW_PRIVATE and any(map(_private, addresses)):
            raise httpcore.ConnectError(ADDRESS_REFUSED)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
        raise last_error

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("webhooks are sent over TCP only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def webhook_transport(*, verify: ssl.SSLContext | bool = True) -> httpx.HTTPTransport:
    """httpx's transport whose connections go through CheckedNetworkBackend (no proxy
    from the environment: a client given a transport does not read one). `verify`: the
    TLS trust (httpx's default CAs; tests pass their own)."""
    transport = httpx.HTTPTransport(verify=verify)
    # httpx builds its pool with httpcore's default backend and has no argument for it
    transport._pool._network_backend = CheckedNetworkBackend()  # noqa: SLF001
    return transport


def webhook_url_check(url: str, *, resolve: bool = True) -> str:
    """The webhook address, checked: http or https with a host. Unless
    BATON_WEBHOOK_ALLOW_PRIVATE is on, an address that is (or resolves to) a loopback,
    private, link-local or reserved IP is refused: a bot must not make Baton call into
    its own network. Raises WebhookUrlRefused."""
    if not isinstance(url, str) or len(url) > 1000 or not url.isascii():
        raise WebhookUrlRefused(_("The webhook must be an http or https address."))
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise WebhookUrlRefused(_("The webhook must be an http or https address.")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused(_("The webhook must be an http or https address."))
    if parts.username or parts.password:
        raise WebhookUrlRefused(_("The webhook address must not contain a user or password."))
    if settings.BATON_WEBHOOK_ALLOW_PRIVATE or not resolve:
        return url.strip()
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise WebhookUrlRefused(_("The webhook's host name does not resolve.")) from None
    if any(_private(info[4][0]) for info in infos):
        raise WebhookUrlRefused(
            _("The webhook must be a public address (not loopback, private or reserved).")
        )
    return url.strip()


# --- recording --------------------------------------------------------------------------------


def webhook_event_record(*, bot: ApiBot, event: str, data: dict) -> WebhookDelivery:
    """Record an event for `bot`'s webhook inside the caller's transaction; it is sent
    after commit (a Celery task on the webhooks queue; the beat sweep sends whatever the
    task missed). `data` is merged into the payload beside event, event_id, bot and
    created_at."""
    now = timezone.now()
    delivery = WebhookDelivery(bot=bot, event=event, created_at=now, next_attempt_at=now)
    delivery.payload = {
        "event": event,
        "event_id": str(delivery.event_id),
        "created_at": now.isoformat(),
        "bot": {"id": bot.pk, "name": bot.name},
        **data,
    }
    delivery.save()
    delivery_id = delivery.pk
    transaction.on_commit(lambda: webhook_delivery_enqueue(delivery_id), robust=True)
    return delivery


def webhook_delivery_enqueue(delivery_id: int) -> None:
    from distributor.tasks import webhook_deliver

    webhook_deliver.delay(delivery_id)


# --- sending ----------------------------------------------------------------------------------


def _dialog_key(delivery: WebhookDelivery) -> str | None:
    dialog = delivery.payload.get("dialog") if isinstance(delivery.payload, dict) else None
    return dialog.get("session_id") if isinstance(dialog, dict) else None


def _earlier_pending(delivery: WebhookDelivery) -> WebhookDelivery | None:
    """The first pending delivery of the same bot and dialog made before this one."""
    session_id = _dialog_key(delivery)
    if session_id is None:
        return None
    return (
        WebhookDelivery.objects.filter(
            bot_id=delivery.bot_id,
            status=DeliveryStatus.PENDING,
            pk__lt=delivery.pk,
            payload__dialog__session_id=session_id,
        )
        .order_by("pk")
        .only("pk", "next_attempt_at")
        .first()
    )


def _next_of_dialog(delivery: WebhookDelivery) -> int | None:
    session_id = _dialog_key(delivery)
    if session_id is None:
        return None
    return (
        WebhookDelivery.objects.filter(
            bot_id=delivery.bot_id,
            status=DeliveryStatus.PENDING,
            pk__gt=delivery.pk,
            payload__dialog__session_id=session_id,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 10 s, 20 s, 40 s, … at most 1 h."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


def _post(url: str, *, body: bytes, headers: dict[str, str]) -> str | None:
    """Send one attempt; None on success (a 2xx answer), else what went wrong."""
    try:
        with httpx.Client(
            timeout=SEND_TIMEOUT_SECONDS, follow_redirects=False, transport=webhook_transport()
        ) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        if str(error) == ADDRESS_REFUSED:
            return ADDRESS_REFUSED
        return f"{type(error).__name__}: {error}"[:ERROR_MAX] or type(error).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def webhook_delivery_send(
    *, delivery_id: int, now: datetime | None = None, force: bool = False
) -> WebhookDelivery | None:
    """Make one attempt at a pending, due delivery; return it as it is afterwards, or
    None when there was nothing to send (delivered, dead, not due, claimed by another
    sender, or held back behind an earlier pending delivery of its dialog).

    The attempt is claimed first with one conditional UPDATE (attempts + 1, the next
    attempt pushed a lease ahead), so two senders never post it at once; the HTTP call
    runs outside any transaction. Success (2xx) marks it delivered; a failure schedules
    the next attempt with backoff, or marks it dead when that would fall past a day after
    it was created. Either way the next pending delivery of the dialog is then sent.
    `force` ignores the due time (Admin's replay)."""
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_related("bot").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    if not force and delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None
    earlier = _earlier_pending(delivery)
    if earlier is not None:
        # waits for the earlier one: due again when that one is (so held-back deliveries
        # never crowd the sweep's batch), and sent at once when that one is settled
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
            next_attempt_at=max(earlier.next_attempt_at or now, now) + timedelta(seconds=1)
        )
        return None
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk,
        status=DeliveryStatus.PENDING,
        attempts=delivery.attempts,
    ).update(attempts=delivery.attempts + 1, next_attempt_at=now + CLAIM_LEASE)
    if not claimed:
        return None
    delivery.attempts += 1
    bot = delivery.bot
    body = webhook_body(delivery.payload)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Baton-Webhooks/1",
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.event_id),
        SIGNATURE_HEADER: webhook_signature_header(
            secret=bot.signing_secret, timestamp=timestamp, body=body
        ),
    }
    try:
        webhook_url_check(bot.webhook_url)
    except ValidationError as refused:
        error = f"refused: {refused.messages[0]}"
    else:
        error = _post(bot.webhook_url, body=body, headers=headers)
    if error is None:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delivery.last_error = ""
    else:
        logger.info("webhook delivery %s to bot %s failed: %s", delivery.pk, bot.pk, error)
        delivery.last_error = error[:ERROR_MAX]
        next_attempt = now + retry_delay(delivery.attempts)
        if next_attempt > delivery.created_at + RETRY_WINDOW:
            delivery.status = DeliveryStatus.DEAD
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = next_attempt
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=delivery.status,
        delivered_at=delivery.delivered_at,
        next_attempt_at=delivery.next_attempt_at,
        last_error=delivery.last_error,
    )
    if delivery.status != DeliveryStatus.PENDING:
        following = _next_of_dialog(delivery)
        if following is not None:
            webhook_delivery_enqueue(following)
    return delivery


def webhook_deliveries_due(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    """Pending deliveries whose attempt is due, oldest first."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def webhook_deliveries_send_due(
    *,
    now: datetime | None = None,
    send: Callable[[int], object] | None = None,
) -> int:
    """Send every due pending delivery (the beat's backstop: a worker restarted after a
    commit, a retry whose time came). `send` is how each is sent: by default at once in
    this process; the beat task hands them to the queue. Returns how many were handed on."""
    now = now or timezone.now()
    due = webhook_deliveries_due(now=now)
    for delivery_id in due:
        if send is None:
            webhook_delivery_send(delivery_id=delivery_id, now=now)
        else:
            send(delivery_id)
    return len(due)


def webhook_delivery_replay(*, delivery: WebhookDelivery, now: datetime | None = None) -> None:
    """Give a delivery (typically a dead one) a fresh start: pending, no attempts, a new
    day of retries from now, due now. The caller sends it (Admin's replay does at once);
    the event id stays, so a bot that did get it can tell."""
    now = now or timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        delivered_at=None,
        last_error="",
    )
    delivery.refresh_from_db()
