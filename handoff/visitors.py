"""Who a visitor is, as the console's list shows them: the name they gave (a form's
name question, the contact form, their Telegram profile: all kept on the client by
chats.services.client_rename / the Telegram receiver), else the name of the customer
they are bound to, else a stable alias made from the client's id ("Visitor 4F2A", the
word translated by the page). Pure functions of loaded rows: no query is made here."""

from __future__ import annotations

import hashlib

from chats.models import Client

ALIAS_CHARS = 4


def client_alias(client_id: int) -> str:
    """Four hex digits derived from the client's id: the same visitor always reads the
    same, and the list does not reveal how many clients there are (a counter would)."""
    digest = hashlib.blake2s(f"baton-client:{client_id}".encode(), digest_size=4).hexdigest()
    return digest[:ALIAS_CHARS].upper()


def client_name(client: Client) -> str:
    """The visitor's own name, else the bound customer's when it was loaded with the
    client (select_related), else "" (the console shows the alias)."""
    if client.name.strip():
        return client.name.strip()
    if Client.customer_binding.is_cached(client):
        try:
            customer = client.customer_binding.customer
        except Client.customer_binding.RelatedObjectDoesNotExist:
            return ""  # no binding (select_related cached its absence)
        return customer.name.strip()
    return ""
