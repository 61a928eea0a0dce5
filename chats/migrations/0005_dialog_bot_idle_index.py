from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    """AddIndex that on PostgreSQL builds the index without blocking writes to the
    table (CREATE INDEX CONCURRENTLY): dialogs go on being written while it builds."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)


class Migration(migrations.Migration):
    """The index the idle sweep (chats.close_idle_dialogs) reads: only the open dialogs
    the bot has, by last activity."""

    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("chats", "0004_model_verbose_names"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="dialog",
            index=models.Index(
                condition=models.Q(("status", "bot")),
                fields=["last_message_at", "started_at"],
                name="dialog_bot_idle",
            ),
        ),
    ]
