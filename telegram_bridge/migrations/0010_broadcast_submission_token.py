from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("telegram_bridge", "0009_group_bridge_and_parallel_bot"),
    ]

    operations = [
        migrations.AddField(
            model_name="broadcast",
            name="submission_token",
            field=models.CharField(
                blank=True, editable=False, max_length=64, null=True, unique=True
            ),
        ),
    ]
