"""API keys in Admin: made with a name, scopes, chats and a rate limit; the token is
shown once, in the message after saving (only its SHA-256 is stored); revocable; the
last use is shown. The secret is never shown again."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from distributor.enums import ApiScope
from distributor.models import ApiKey
from distributor.services import api_key_create, api_key_revoke
from distributor.services.api_keys import api_key_scopes_check


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Write includes read."),
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "chats", "requests_per_minute"]
        widgets = {"chats": forms.CheckboxSelectMultiple}

    def clean_scopes(self) -> list[str]:
        try:
            return api_key_scopes_check(list(self.cleaned_data.get("scopes") or []))
        except ValidationError as error:
            raise forms.ValidationError(error.messages) from None


class RevokedFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", _("active")), ("revoked", _("revoked"))]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = [
        "name",
        "prefix",
        "scope_list",
        "requests_per_minute",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [RevokedFilter]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        fields = ["name", "scopes", "chats", "requests_per_minute"]
        if obj is None:
            return fields
        return [*fields, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    @admin.display(description=_("scopes"))
    def scope_list(self, key: ApiKey) -> str:
        return ", ".join(key.scopes) or "—"

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, token = api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            chats=list(form.cleaned_data["chats"]),
            created_by=request.user,
            requests_per_minute=form.cleaned_data["requests_per_minute"],
        )
        # the admin goes on with the saved key (its log entry, the redirect)
        for field in ("pk", "prefix", "secret_hash", "scopes", "created_at", "created_by_id"):
            setattr(obj, field, getattr(key, field))
        obj._state.adding = False
        messages.warning(
            request,
            format_html(
                "{} <code>{}</code>",
                _(
                    "The key's token is shown now, and never again (only its hash is "
                    "stored): copy it to the integration."
                ),
                token,
            ),
        )

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request, queryset) -> None:
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(key=key)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", count) % {"count": count},
        )
