"""Writes to a chat's distribution: its settings, its routing rules, the channels a
manager serves in it. Admin edits these through its forms; these are for code (the
demo data, the API)."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from chats.models import Chat
from distributor.models import ApiBot, ChatDistribution, Operator, OperatorChannel, RoutingRule
from distributor.services.distribution_settings import chat_distribution_for

DISTRIBUTION_FIELDS = {
    "mode",
    "offer_timeout_seconds",
    *ChatDistribution.AUTO_REPLY_FIELDS,
    "bind_customers",
    "create_customers",
    "phone_region",
}


def chat_distribution_update(*, chat: Chat, **changes) -> ChatDistribution:
    """Change the chat's distribution settings (made with the defaults first when it
    has none). Validated as in Admin (every auto-reply required, a known phone region);
    raises ValidationError, changing nothing."""
    unknown = sorted(set(changes) - DISTRIBUTION_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown setting: %(names)s.") % {"names": ", ".join(unknown)})
    chat_distribution_for(chat)
    with transaction.atomic():
        distribution = ChatDistribution.objects.select_for_update().get(chat=chat)
        for field, value in changes.items():
            setattr(distribution, field, value)
        distribution.full_clean(exclude=["chat"])
        distribution.save()
    return distribution


def routing_rule_set(
    *,
    chat: Chat,
    messenger: str,
    target: str,
    managers: Iterable[Operator] = (),
    api_bot: ApiBot | None = None,
) -> RoutingRule:
    """Route one channel of the chat (replacing its rule). Managers must serve the chat;
    a managers route names no bot. Raises ValidationError, changing nothing."""
    managers = list(managers)
    distribution = chat_distribution_for(chat)
    serving = set(
        Operator.objects.filter(pk__in=[m.pk for m in managers], chats=chat).values_list(
            "pk", flat=True
        )
    )
    not_serving = [str(m) for m in managers if m.pk not in serving]
    if not_serving:
        raise ValidationError(
            {
                "managers": _("Not a manager of this chat: %(names)s.")
                % {"names": ", ".join(not_serving)}
            }
        )
    with transaction.atomic():
        rule = (
            RoutingRule.objects.select_for_update()
            .filter(distribution=distribution, messenger=messenger)
            .first()
        ) or RoutingRule(distribution=distribution, messenger=messenger)
        rule.target = target
        rule.api_bot = api_bot  # a managers route with a bot is refused by clean()
        rule.full_clean(exclude=["distribution"], validate_unique=False)
        rule.save()
        rule.managers.set(managers)
    return rule


def operator_channels_set(*, operator: Operator, chat: Chat, messengers: Iterable[str]) -> None:
    """The channels the manager serves in the chat, replacing the earlier ones (none:
    every channel). The manager must serve the chat. Raises ValidationError."""
    messengers = sorted(set(messengers))
    if not operator.chats.filter(pk=chat.pk).exists():
        raise ValidationError(
            _("%(chat)s is not one of the chats this manager serves.") % {"chat": chat}
        )
    for messenger in messengers:
        OperatorChannel(operator=operator, chat=chat, messenger=messenger).full_clean(
            validate_unique=False, validate_constraints=False
        )
    with transaction.atomic():
        Operator.objects.select_for_update().get(pk=operator.pk)
        OperatorChannel.objects.filter(operator=operator, chat=chat).exclude(
            messenger__in=messengers
        ).delete()
        for messenger in messengers:
            OperatorChannel.objects.get_or_create(operator=operator, chat=chat, messenger=messenger)


def operator_channels_prune(*, operator: Operator) -> int:
    """Drop the operator's channel rows of chats they no longer serve (a chat taken away
    takes its channel choices with it); returns how many went."""
    deleted, _by_model = (
        OperatorChannel.objects.filter(operator=operator)
        .exclude(chat_id__in=operator.chats.values("pk"))
        .delete()
    )
    return deleted
