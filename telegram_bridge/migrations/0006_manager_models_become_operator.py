"""Issue 9: the Telegram side of "manager" says operator in code. ManagerAccount,
ManagerAlert and ManagerSession become OperatorAccount, OperatorAlert and OperatorSession
(tables renamed with their rows), the `manager` fields `operator`, the two unique
constraints that named the manager are made again under operator names, and queued
outbound messages with purpose "manager" get "operator". The names users read stay."""

import django.db.models.deletion
from django.db import migrations, models


def purpose_manager_to_operator(apps, schema_editor):
    OutboundMessage = apps.get_model("telegram_bridge", "OutboundMessage")
    OutboundMessage.objects.filter(purpose="manager").update(purpose="operator")


def purpose_operator_to_manager(apps, schema_editor):
    OutboundMessage = apps.get_model("telegram_bridge", "OutboundMessage")
    OutboundMessage.objects.filter(purpose="operator").update(purpose="manager")


class Migration(migrations.Migration):
    dependencies = [
        ("distributor", "0004_manager_becomes_operator"),
        ("telegram_bridge", "0005_scrub_lone_surrogates"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="manageraccount", name="telegram_manager_once_per_bot"
        ),
        migrations.RemoveConstraint(model_name="manageralert", name="one_alert_per_manager"),
        migrations.RenameModel(old_name="ManagerAccount", new_name="OperatorAccount"),
        migrations.RenameModel(old_name="ManagerAlert", new_name="OperatorAlert"),
        migrations.RenameModel(old_name="ManagerSession", new_name="OperatorSession"),
        migrations.RenameField(model_name="operatoraccount", old_name="manager", new_name="operator"),
        migrations.RenameField(model_name="connectlink", old_name="manager", new_name="operator"),
        # the admin's labels stay "manager" (they came from the field's old name)
        migrations.AlterField(
            model_name="operatoraccount",
            name="operator",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="telegram_accounts",
                to="distributor.operator",
                verbose_name="manager",
            ),
        ),
        migrations.AlterField(
            model_name="connectlink",
            name="operator",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="telegram_connect_links",
                to="distributor.operator",
                verbose_name="manager",
            ),
        ),
        migrations.AlterField(
            model_name="operatoraccount",
            name="bot",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="operator_accounts",
                to="telegram_bridge.telegrambot",
            ),
        ),
        migrations.AddConstraint(
            model_name="operatoraccount",
            constraint=models.UniqueConstraint(
                fields=("bot", "operator"), name="telegram_operator_once_per_bot"
            ),
        ),
        migrations.AddConstraint(
            model_name="operatoralert",
            constraint=models.UniqueConstraint(
                fields=("request", "account"), name="one_alert_per_operator"
            ),
        ),
        migrations.AlterField(
            model_name="outboundmessage",
            name="purpose",
            field=models.CharField(
                choices=[
                    ("client", "to a client"),
                    ("operator", "to a manager"),
                    ("alert", "a manager's alert"),
                    ("group_notice", "a group notice"),
                ],
                max_length=15,
            ),
        ),
        migrations.RunPython(purpose_manager_to_operator, purpose_operator_to_manager),
    ]
