"""Count every manager's load into distributor.Operator.load_hint (added empty by
distributor 0007): the requests they hold plus those offered to them now."""

from django.db import migrations
from django.db.models import Count, Q

WAITING = ["pending", "queued"]


def count_loads(apps, schema_editor):
    Operator = apps.get_model("distributor", "Operator")
    Request = apps.get_model("handoff", "Request")
    loads: dict[int, int] = {}
    held = (
        Request.objects.filter(status="accepted", operator__isnull=False)
        .values("operator_id")
        .annotate(count=Count("pk"))
    )
    for row in held:
        loads[row["operator_id"]] = loads.get(row["operator_id"], 0) + row["count"]
    offered = (
        Request.objects.filter(Q(status__in=WAITING), offered_to__isnull=False)
        .values("offered_to_id")
        .annotate(count=Count("pk"))
    )
    for row in offered:
        loads[row["offered_to_id"]] = loads.get(row["offered_to_id"], 0) + row["count"]
    for operator_id, load in loads.items():
        Operator.objects.filter(pk=operator_id).update(load_hint=load)


class Migration(migrations.Migration):
    dependencies = [
        ("distributor", "0007_operator_load_hint"),
        ("handoff", "0012_distribution"),
    ]

    operations = [migrations.RunPython(count_loads, migrations.RunPython.noop)]
