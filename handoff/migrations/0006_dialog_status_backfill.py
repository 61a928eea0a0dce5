"""Bring every open dialog's status in step with its open request (issue 8, item 19),
and close the historical backlog of idle dialogs the bot has.

Outside any schema change and in batches by primary key, each committed on its own
(the migration is not atomic), so no batch holds the dialogs table for long while the
site runs. The backlog is closed silently, as the idle sweep would have closed it: no
notice (the sweep posts none), closed_at when the idle rule would have closed it (last
activity + BATON_DIALOG_IDLE_CLOSE_HOURS), and nothing published (no visitor of a
dialog idle for that long is still watching it)."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.db.models import ExpressionWrapper, F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

BATCH = 1000


def dialog_statuses_backfill(apps, schema_editor, *, batch=BATCH, now=None):
    Dialog = apps.get_model("chats", "Dialog")
    Request = apps.get_model("handoff", "Request")
    idle_for = timedelta(hours=settings.BATON_DIALOG_IDLE_CLOSE_HOURS)
    cutoff = (now or timezone.now()) - idle_for
    last_pk = 0
    while True:
        ids = list(
            Dialog.objects.filter(pk__gt=last_pk)
            .exclude(status="closed")
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return
        last_pk = ids[-1]
        requests = Request.objects.filter(dialog_id__in=ids)
        accepted = set(requests.filter(status="accepted").values_list("dialog_id", flat=True))
        waiting = set(
            requests.filter(status__in=["pending", "queued"]).values_list("dialog_id", flat=True)
        )
        accepted -= waiting  # as before: a waiting request wins
        bot = set(ids) - accepted - waiting
        for status, members in (("operator", accepted), ("waiting", waiting), ("bot", bot)):
            if members:
                Dialog.objects.filter(pk__in=members).exclude(status=status).update(status=status)
        Dialog.objects.filter(pk__in=ids, status="bot").filter(
            Q(last_message_at__lt=cutoff) | Q(last_message_at__isnull=True, started_at__lt=cutoff)
        ).update(
            status="closed",
            closed_at=ExpressionWrapper(
                Coalesce(F("last_message_at"), F("started_at")) + idle_for,
                output_field=models.DateTimeField(),
            ),
        )


class Migration(migrations.Migration):
    atomic = False  # each batch is committed on its own

    dependencies = [
        ("handoff", "0005_model_verbose_names"),
        ("chats", "0005_dialog_bot_idle_index"),
    ]

    operations = [
        migrations.RunPython(dialog_statuses_backfill, migrations.RunPython.noop, elidable=True),
    ]
