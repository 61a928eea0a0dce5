"""Issue 9: "operator" and "manager" were one entity with two names; the code now says
operator. The table is renamed with its rows (distributor_manager → distributor_operator,
its chats table and column with it); the names users read ("manager") stay."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0007_chat_scripts_version"),
        ("distributor", "0003_customers_from_chats"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        # after every migration that names distributor.Manager, so none runs after the
        # rename and looks for the old name
        ("handoff", "0009_feedback_and_chat_settings"),
        ("telegram_bridge", "0005_scrub_lone_surrogates"),
    ]

    operations = [
        migrations.RenameModel(old_name="Manager", new_name="Operator"),
        migrations.AlterField(
            model_name="operator",
            name="user",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="operator",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="operator",
            name="chats",
            field=models.ManyToManyField(
                blank=True, related_name="operators", to="chats.chat", verbose_name="chats served"
            ),
        ),
    ]
