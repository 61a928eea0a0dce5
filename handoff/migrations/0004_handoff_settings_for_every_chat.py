from django.db import migrations


def handoff_settings_for_every_chat(apps, schema_editor):
    """Every chat gets its handoff settings (with the defaults it was running on), so
    the admin shows them instead of a chat silently running on defaults (issue 8)."""
    Chat = apps.get_model("chats", "Chat")
    HandoffSettings = apps.get_model("handoff", "HandoffSettings")
    missing = Chat.objects.filter(handoff_settings__isnull=True).values_list("pk", flat=True)
    HandoffSettings.objects.bulk_create([HandoffSettings(chat_id=chat_id) for chat_id in missing])


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0003_rules_reasons_and_contact"),
    ]

    operations = [
        migrations.RunPython(handoff_settings_for_every_chat, migrations.RunPython.noop),
    ]
