from django.db import migrations

from chats.encoding_repair import repair_on_sqlite


def messages_make_encodable(apps, schema_editor):
    """Old messages whose buttons or attachments hold a lone surrogate (stored before
    such text was refused) broke every page and socket that showed them: U+FFFD instead.
    Only SQLite can hold them, and there only in JSON columns (see
    chats.encoding_repair); elsewhere this does nothing."""
    repair_on_sqlite(schema_editor, apps.get_model("chats", "Message"), ["buttons", "attachments"])


class Migration(migrations.Migration):
    atomic = False  # batches of rows, each committed on its own

    dependencies = [
        ("chats", "0005_dialog_bot_idle_index"),
    ]

    operations = [
        migrations.RunPython(messages_make_encodable, migrations.RunPython.noop, elidable=True),
    ]
