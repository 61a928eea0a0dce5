"""Feedback lives in handoff now: its migration 0009 copied the rows there; here
chats drops its table."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0007_chat_scripts_version"),
        ("handoff", "0009_feedback_and_chat_settings"),
    ]

    operations = [
        migrations.DeleteModel(
            name="Feedback",
        ),
    ]
