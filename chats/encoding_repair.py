"""Repairing stored data that no surface can encode: text with a lone UTF-16
surrogate. New input is refused (chats.validators), but rows written before that
rule may hold such text. Only SQLite can: PostgreSQL refuses a lone surrogate in
text and in jsonb, and Python's sqlite3 refuses to bind one in a text column, so
what is left are JSON columns on SQLite, where json.dumps stored it escaped
("\\ud800"). Used by data migrations."""

from __future__ import annotations

from chats.validators import text_make_encodable, value_has_lone_surrogate

REPAIR_BATCH = 500


def value_make_encodable(value: object) -> object:
    """`value` (a string, or JSON-like data: dict keys and values, list items) with
    every lone surrogate replaced by U+FFFD; other values as they are. Iterative, so no
    nesting can exhaust the stack."""
    if isinstance(value, str):
        return text_make_encodable(value)
    if not isinstance(value, dict | list | tuple):
        return value
    root: list = [None]
    pending: list[tuple[object, object, object]] = [(value, root, 0)]
    while pending:
        item, parent, key = pending.pop()
        if isinstance(item, str):
            parent[key] = text_make_encodable(item)
        elif isinstance(item, dict):
            copy: dict = {}
            for item_key, item_value in item.items():
                new_key = text_make_encodable(item_key) if isinstance(item_key, str) else item_key
                copy[new_key] = None
                pending.append((item_value, copy, new_key))
            parent[key] = copy
        elif isinstance(item, list | tuple):
            copy_list: list = [None] * len(item)
            for index, element in enumerate(item):
                pending.append((element, copy_list, index))
            parent[key] = copy_list
        else:
            parent[key] = item
    return root[0]


def rows_make_encodable(model, fields: list[str], *, batch: int = REPAIR_BATCH) -> int:
    """Replace lone surrogates with U+FFFD in `fields` of every row of `model` (a
    migration's historical model), reading and writing `batch` rows at a time by primary
    key. Only rows that change are written. Returns how many rows were repaired."""
    repaired = 0
    last_pk = None
    while True:
        rows = model.objects.order_by("pk")
        if last_pk is not None:
            rows = rows.filter(pk__gt=last_pk)
        page = list(rows.values_list("pk", *fields)[:batch])
        if not page:
            return repaired
        for pk, *values in page:
            changed = {
                field: value_make_encodable(value)
                for field, value in zip(fields, values, strict=True)
                if value_has_lone_surrogate(value)
            }
            if changed:
                model.objects.filter(pk=pk).update(**changed)
                repaired += 1
        last_pk = page[-1][0]


def repair_on_sqlite(schema_editor, model, fields: list[str]) -> None:
    """rows_make_encodable on SQLite; elsewhere nothing (no database but SQLite can
    hold a lone surrogate)."""
    if schema_editor.connection.vendor == "sqlite":
        rows_make_encodable(model, fields)
