"""The "analyst" group: view permissions on what the dialog viewer and the reports show."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ANALYST_GROUP = "analyst"
VIEWED = {
    "chats": ["chat", "client", "dialog", "message", "markerhit", "pagevisit", "messageprice"],
    "handoff": ["request", "requestevent", "feedback", "dialogformanswers"],
    "distributor": ["operator", "customer", "customerbinding"],
    "reports": ["reportjob", "scheduledreport"],
}


def analyst_group_create(apps, schema_editor):
    for app_label in VIEWED:
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _created = Group.objects.get_or_create(name=ANALYST_GROUP)
    for app_label, models in VIEWED.items():
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label=app_label,
                codename__in=[f"view_{model}" for model in models],
            )
        )
    # building reports is the analyst's own work
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="reports", codename="add_reportjob"
        )
    )


def analyst_group_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=ANALYST_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("chats", "0010_message_price"),
        ("handoff", "0011_after_end_script_deletion_revises"),
        ("distributor", "0004_manager_becomes_operator"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(analyst_group_create, analyst_group_delete)]
