"""Issue 9: ConversationRead.manager is renamed operator (the column manager_id becomes
operator_id, rows kept). The unique constraint names the field, so it is dropped before
the rename and made again after it, under its old name."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("distributor", "0004_manager_becomes_operator"),
        ("handoff", "0009_feedback_and_chat_settings"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="conversationread", name="one_read_mark_per_dialog"
        ),
        migrations.RenameField(
            model_name="conversationread", old_name="manager", new_name="operator"
        ),
        migrations.AddConstraint(
            model_name="conversationread",
            constraint=models.UniqueConstraint(
                fields=("operator", "dialog"), name="one_read_mark_per_dialog"
            ),
        ),
    ]
