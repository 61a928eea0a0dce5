"""Telegram writes, split by sub-domain: bots (connecting), updates (webhook intake),
inbound (who is writing), clients, operators, outbox (the one outbound path)."""
