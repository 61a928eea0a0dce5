"""Indexes for the dialog viewer's list and filters (reports.views.viewer), measured
with bench/viewer.py on PostgreSQL at 1,000,000 messages.

The text filter (a case-insensitive "contains" over every message: Django's icontains,
`UPPER(text) LIKE UPPER('%word%')`) gets a trigram index on PostgreSQL when the
pg_trgm extension is there and may be created by this database user; elsewhere (SQLite,
or without the right) there is no such index and the search scans the messages."""

from django.db import DatabaseError, migrations, models, transaction

TRIGRAM_INDEX = "message_text_trigram"


def message_text_trigram_create(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    table = apps.get_model("chats", "Message")._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is None:
            return
        try:
            with transaction.atomic(using=connection.alias):
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError:
            return  # not allowed to create extensions: the search scans instead
        # the expression Django's icontains compares (UPPER of the column)
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON {table} "
            "USING gin (UPPER(text) gin_trgm_ops)"
        )


def message_text_trigram_drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0010_message_price"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="dialog",
            index=models.Index(fields=["-started_at", "-id"], name="dialog_started"),
        ),
        migrations.AddIndex(
            model_name="dialog",
            index=models.Index(fields=["chat", "-started_at", "-id"], name="dialog_chat_started"),
        ),
        migrations.AddIndex(
            model_name="dialog",
            index=models.Index(
                fields=["chat", "messenger", "-started_at"], name="dialog_chat_channel_started"
            ),
        ),
        migrations.AddIndex(
            model_name="markerhit",
            index=models.Index(fields=["marker", "dialog"], name="markerhit_marker_dialog"),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["dialog", "author_kind"], name="message_dialog_author"),
        ),
        migrations.RunPython(message_text_trigram_create, message_text_trigram_drop),
    ]
