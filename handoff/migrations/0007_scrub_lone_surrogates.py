from django.db import migrations

from chats.encoding_repair import repair_on_sqlite


def form_answers_make_encodable(apps, schema_editor):
    """Old form answers holding a lone surrogate (stored before such text was refused)
    broke every console and admin page that showed them: U+FFFD instead. Only SQLite can
    hold them (see chats.encoding_repair); elsewhere this does nothing."""
    repair_on_sqlite(schema_editor, apps.get_model("handoff", "Request"), ["form_answers"])
    repair_on_sqlite(
        schema_editor, apps.get_model("handoff", "DialogFormAnswers"), ["answers", "contact"]
    )


class Migration(migrations.Migration):
    atomic = False  # batches of rows, each committed on its own

    dependencies = [
        ("handoff", "0006_dialog_status_backfill"),
    ]

    operations = [
        migrations.RunPython(form_answers_make_encodable, migrations.RunPython.noop, elidable=True),
    ]
