"""Admin of broadcasts: compose (text, photo, URL buttons, segment), see how many clients
the segment has, send, watch progress, cancel, and read the per-recipient results (a
read-only list and an XLSX download). Every write goes through
telegram_bridge.services.broadcasts."""

from __future__ import annotations

import io
import re
import secrets

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from telegram_bridge.models import (
    BROADCAST_BUTTON_TEXT_LIMIT,
    Broadcast,
    BroadcastRecipient,
    BroadcastStatus,
    RecipientStatus,
    broadcast_button_url_valid,
)
from telegram_bridge.selectors import broadcast_progress, broadcast_recipients_count
from telegram_bridge.services.broadcasts import (
    BroadcastRefused,
    broadcast_cancel,
    broadcast_start,
)

EDITABLE = (
    "bot",
    "title",
    "text",
    "photo",
    "buttons",
    "marker",
    "active_after",
    "active_before",
    "customer_bound",
)
MAX_BUTTONS = 10


def buttons_parse(text: str) -> list[list[dict]]:
    """`Text | https://url` lines, one button a row; raises ValidationError naming the
    line that is wrong."""
    rows: list[list[dict]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label, separator, url = line.partition("|")
        label, url = label.strip(), url.strip()
        if not separator or not label or not url:
            raise forms.ValidationError(
                _("Line %(line)d: write a button as “Text | https://address”.") % {"line": number}
            )
        if len(label) > BROADCAST_BUTTON_TEXT_LIMIT:
            raise forms.ValidationError(
                _("Line %(line)d: a button's text has at most %(limit)d characters.")
                % {"line": number, "limit": BROADCAST_BUTTON_TEXT_LIMIT}
            )
        if not broadcast_button_url_valid(url):
            raise forms.ValidationError(
                _("Line %(line)d: “%(url)s” is not an http:// or https:// address.")
                % {"line": number, "url": url}
            )
        rows.append([{"text": label, "url": url}])
    if len(rows) > MAX_BUTTONS:
        raise forms.ValidationError(_("At most %(count)d buttons.") % {"count": MAX_BUTTONS})
    return rows


SUBMISSION_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def submission_token_new() -> str:
    return secrets.token_urlsafe(24)


class BroadcastForm(forms.ModelForm):
    # the ADD page's one-time token (stored unique on the broadcast): the same form
    # submitted twice (a double click on "Save and send") makes one broadcast, sent once
    submission_token = forms.CharField(
        widget=forms.HiddenInput, initial=submission_token_new, required=False
    )
    buttons = forms.CharField(
        label=_("Buttons"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One URL button a line: Text | https://address"),
    )

    class Meta:
        model = Broadcast
        fields = list(EDITABLE)
        error_messages = {"text": {"required": _("A broadcast needs text.")}}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # only the ADD page makes a broadcast
            self.fields.pop("submission_token", None)
        if self.instance.pk and "buttons" in self.fields:
            self.initial["buttons"] = "\n".join(
                f"{button['text']} | {button['url']}"
                for row in self.instance.buttons
                for button in row
            )

    def clean(self):
        cleaned = super().clean()
        # a hidden field: its error is shown above the form, where the admin sees it
        token = cleaned.get("submission_token")
        if "submission_token" in self.fields and not SUBMISSION_TOKEN.fullmatch(token or ""):
            self.add_error(None, _("This form has expired: reload the page and submit it again."))
        return cleaned

    def clean_buttons(self) -> list[list[dict]]:
        return buttons_parse(self.cleaned_data.get("buttons") or "")


# what XML 1.0 (and so an .xlsx) cannot hold: C0 controls but tab, LF and CR; lone
# surrogates; U+FFFE and U+FFFF (as reports/xlsx.py, which a writer may not import)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
EXCEL_MAX_CELL_CHARS = 32_767


def _text_cell(sheet, value: str | None) -> WriteOnlyCell | None:
    """A string cell whatever the stored text looks like: never a formula ("=…"), never
    a character that breaks the file."""
    if not value:
        return None
    cell = WriteOnlyCell(sheet)
    cell._value = _NOT_XML.sub("\ufffd", value)[:EXCEL_MAX_CELL_CHARS]
    cell.data_type = "s"
    return cell


def results_xlsx(broadcast: Broadcast) -> bytes:
    """The per-recipient results as an XLSX workbook (write-only: rows are streamed)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(gettext("Recipients"))
    sheet.append(
        [
            gettext("Client"),
            gettext("Telegram chat"),
            gettext("Status"),
            gettext("Sent"),
            gettext("Telegram message id"),
            gettext("Error"),
        ]
    )
    labels = dict(BroadcastRecipient._meta.get_field("status").choices)
    recipients = (
        BroadcastRecipient.objects.filter(broadcast=broadcast)
        .order_by("id")
        .values_list(
            "client__name", "telegram_chat_id", "status", "sent_at", "telegram_message_id", "error"
        )
    )
    for name, chat_id, status, sent_at, message_id, error in recipients.iterator(2000):
        sheet.append(
            [
                _text_cell(sheet, name),
                chat_id,
                str(labels.get(status, status)),
                sent_at.replace(tzinfo=None) if sent_at else None,
                message_id,
                _text_cell(sheet, error),
            ]
        )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    form = BroadcastForm
    change_form_template = "admin/telegram_bridge/broadcast/change_form.html"
    list_display = (
        "__str__",
        "bot",
        "status",
        "recipients_total",
        "sent_count",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "bot")
    actions = ["cancel_selected"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                sent_number=Count("recipients", filter=Q(recipients__status=RecipientStatus.SENT))
            )
        )

    @admin.display(description=_("sent"), ordering="sent_number")
    def sent_count(self, broadcast: Broadcast) -> int:
        return broadcast.sent_number

    @admin.display(description=_("Buttons"))
    def button_lines(self, broadcast: Broadcast) -> str:
        return (
            format_html_join(
                mark_safe("<br>"),  # noqa: S308 - a constant
                "{} | {}",
                ((button["text"], button["url"]) for row in broadcast.buttons for button in row),
            )
            or "-"
        )

    def get_fields(self, request, obj=None):
        fields = list(EDITABLE)
        if obj is not None:
            if obj.status != BroadcastStatus.DRAFT:
                fields[fields.index("buttons")] = "button_lines"
            fields += ["status", "recipients_total", "created_by", "started_at", "finished_at"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if obj.status != BroadcastStatus.DRAFT:
            return self.get_fields(request, obj)
        return ("status", "recipients_total", "created_by", "started_at", "finished_at")

    def get_urls(self):
        return [
            path(
                "<int:object_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="telegram_bridge_broadcast_progress",
            ),
            path(
                "<int:object_id>/results.xlsx",
                self.admin_site.admin_view(self.results_view),
                name="telegram_bridge_broadcast_results",
            ),
            *super().get_urls(),
        ]

    def _viewable(self, request: HttpRequest, object_id: int) -> Broadcast:
        broadcast = get_object_or_404(Broadcast, pk=object_id)
        if not self.has_view_or_change_permission(request, broadcast):
            raise PermissionDenied
        return broadcast

    def progress_view(self, request: HttpRequest, object_id: int) -> JsonResponse:
        return JsonResponse(broadcast_progress(broadcast=self._viewable(request, object_id)))

    def results_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        broadcast = self._viewable(request, object_id)
        response = HttpResponse(
            results_xlsx(broadcast),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="broadcast-{broadcast.pk}.xlsx"'
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["broadcast"] = obj
            context["progress_url"] = reverse(
                "admin:telegram_bridge_broadcast_progress", args=[obj.pk]
            )
            context["results_xlsx_url"] = reverse(
                "admin:telegram_bridge_broadcast_results", args=[obj.pk]
            )
            context["results_list_url"] = (
                reverse("admin:telegram_bridge_broadcastrecipient_changelist")
                + f"?broadcast__id__exact={obj.pk}"
            )
            if obj.status == BroadcastStatus.DRAFT:
                context["recipients_count"], context["blocked_count"] = broadcast_recipients_count(
                    broadcast=obj
                )
            else:
                context["progress"] = broadcast_progress(broadcast=obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
            obj.submission_token = form.cleaned_data["submission_token"]
            try:
                with transaction.atomic():
                    obj.save()
            except IntegrityError:
                # the same form again (a double click): carry on with the broadcast the
                # first submission made (its Send is idempotent), make no second one
                first = Broadcast.objects.filter(submission_token=obj.submission_token).first()
                if first is None:
                    raise
                obj.__dict__.update(first.__dict__)
                obj.resubmitted = True
            return
        # only a draft is edited, and never over a start that happened meanwhile
        changed = {field: getattr(obj, field) for field in EDITABLE if field in form.changed_data}
        if changed:
            Broadcast.objects.filter(pk=obj.pk, status=BroadcastStatus.DRAFT).update(**changed)

    def _after_save(self, request: HttpRequest, obj: Broadcast) -> HttpResponse | None:
        change_url = reverse("admin:telegram_bridge_broadcast_change", args=[obj.pk])
        if "_preview" in request.POST:
            recipients, blocked = broadcast_recipients_count(broadcast=obj)
            self.message_user(
                request,
                _(
                    "%(count)d clients would receive it now "
                    "(%(blocked)d left out: they blocked the bot)."
                )
                % {"count": recipients, "blocked": blocked},
                messages.INFO,
            )
            return HttpResponseRedirect(change_url)
        if "_send" in request.POST:
            if not self.has_change_permission(request, obj):
                raise PermissionDenied
            try:
                total = broadcast_start(broadcast=obj)
            except BroadcastRefused as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("Sending to %(count)d clients.") % {"count": total},
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(change_url)
        if "_cancel" in request.POST:
            if not self.has_change_permission(request, obj):
                raise PermissionDenied
            skipped = broadcast_cancel(broadcast=obj)
            self.message_user(
                request,
                _("Cancelled: %(count)d recipients will not get it.") % {"count": skipped},
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        return None

    def log_addition(self, request, obj, message):
        if getattr(obj, "resubmitted", False):  # nothing was added
            return None
        return super().log_addition(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        return self._after_save(request, obj) or super().response_add(
            request, obj, post_url_continue
        )

    def response_change(self, request, obj):
        obj.refresh_from_db()
        return self._after_save(request, obj) or super().response_change(request, obj)

    @admin.action(description=_("Cancel the selected broadcasts"), permissions=["change"])
    def cancel_selected(self, request, queryset) -> None:
        skipped = sum(broadcast_cancel(broadcast=broadcast) for broadcast in queryset)
        self.message_user(
            request,
            _("Cancelled: %(count)d recipients will not get it.") % {"count": skipped},
            messages.WARNING,
        )


@admin.register(BroadcastRecipient)
class BroadcastRecipientAdmin(admin.ModelAdmin):
    """The per-recipient results, read-only."""

    list_display = (
        "client",
        "telegram_chat_id",
        "status",
        "sent_at",
        "telegram_message_id",
        "error",
        "broadcast_link",
    )
    list_filter = ("status", "broadcast")
    list_select_related = ("client", "broadcast")
    search_fields = ("client__name", "=telegram_chat_id")

    @admin.display(description=_("broadcast"))
    def broadcast_link(self, recipient: BroadcastRecipient) -> str:
        url = reverse("admin:telegram_bridge_broadcast_change", args=[recipient.broadcast_id])
        return format_html('<a href="{}">{}</a>', url, recipient.broadcast)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
