"""Distributor writes, by sub-domain. Import them from here."""

from distributor.services.api_keys import api_key_authenticate, api_key_create, api_key_revoke
from distributor.services.customers import customer_bind
from distributor.services.distribution_settings import auto_reply_defaults, chat_distribution_for
from distributor.services.operators import operator_create
from distributor.services.presence import (
    operator_presence_renew,
    operator_presence_set,
    presence_effective,
    presences_expire,
)

__all__ = [
    "api_key_authenticate",
    "api_key_create",
    "api_key_revoke",
    "auto_reply_defaults",
    "chat_distribution_for",
    "customer_bind",
    "operator_create",
    "operator_presence_renew",
    "operator_presence_set",
    "presence_effective",
    "presences_expire",
]
