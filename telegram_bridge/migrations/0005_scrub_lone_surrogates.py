from django.db import migrations

from chats.encoding_repair import repair_on_sqlite


def telegram_data_make_encodable(apps, schema_editor):
    """Stored updates, form progress and outbound messages holding a lone surrogate
    (stored before such text was refused) broke the admin pages that showed them:
    U+FFFD instead. Only SQLite can hold them (see chats.encoding_repair); elsewhere
    this does nothing."""
    repair_on_sqlite(
        schema_editor, apps.get_model("telegram_bridge", "TelegramUpdate"), ["payload"]
    )
    repair_on_sqlite(
        schema_editor, apps.get_model("telegram_bridge", "FormProgress"), ["fields", "answers"]
    )
    repair_on_sqlite(
        schema_editor, apps.get_model("telegram_bridge", "OutboundMessage"), ["payload"]
    )


class Migration(migrations.Migration):
    atomic = False  # batches of rows, each committed on its own

    dependencies = [
        ("telegram_bridge", "0004_update_states_backfill"),
    ]

    operations = [
        migrations.RunPython(
            telegram_data_make_encodable, migrations.RunPython.noop, elidable=True
        ),
    ]
