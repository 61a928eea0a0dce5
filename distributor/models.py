from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Manager(models.Model):
    """An operator's profile: who they are to clients, which chats they serve and how
    many dialogs they may hold at once. Presence and routing come with distribution."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="manager"
    )
    display_name = models.CharField(_("name shown to clients"), max_length=100)
    chats = models.ManyToManyField(
        "chats.Chat", related_name="managers", blank=True, verbose_name=_("chats served")
    )
    max_simultaneous_dialogs = models.PositiveSmallIntegerField(
        _("maximum simultaneous dialogs"), default=5, validators=[MinValueValidator(1)]
    )

    class Meta:
        ordering = ["display_name"]
        verbose_name = _("manager")
        verbose_name_plural = _("managers")

    def __str__(self) -> str:
        return self.display_name
