"""Regression: Dialog.cost was numeric(12,4) while a price could be 999,999.9999, so on
PostgreSQL a dialog past 99,999,999.9999 refused every further message (the UPDATE
that allocates the sequence overflowed): a stored price broke the message path."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from chats.enums import AuthorKind, MessageDirection, Messenger
from chats.models import MAX_MESSAGE_PRICE, Dialog, MessagePrice
from chats.services import message_post
from tests.chats.factories import DialogFactory

pytestmark = pytest.mark.django_db


def _price(value: str) -> MessagePrice:
    return MessagePrice(
        messenger=Messenger.WEB,
        direction=MessageDirection.OUTBOUND,
        price=Decimal(value),
        valid_from=timezone.now() - datetime.timedelta(days=1),
    )


def test_a_dialog_at_the_old_ceiling_still_takes_messages_at_the_dearest_price():
    _price(str(MAX_MESSAGE_PRICE)).save()
    dialog = DialogFactory(messenger=Messenger.WEB)
    Dialog.objects.filter(pk=dialog.pk).update(cost=Decimal("99999999.9999"))

    message, created = message_post(dialog=dialog, author_kind=AuthorKind.BOT, text="hi")

    assert created and message.pk
    dialog.refresh_from_db()
    assert dialog.cost == Decimal("99999999.9999") + MAX_MESSAGE_PRICE


def test_a_price_above_the_ceiling_is_refused_by_the_form_rules_and_the_database():
    price = _price(str(MAX_MESSAGE_PRICE + 1))
    with pytest.raises(ValidationError) as refused:
        price.full_clean()
    assert "price" in refused.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        price.save()
    assert not MessagePrice.objects.exists()
