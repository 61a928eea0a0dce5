"""Customers move from chats to distribution (issue 9: each app owns its data). The
rows keep their ids; every client's customer (chats.Client.customer, which chats 0008
then drops) becomes a CustomerBinding. Reversible: going back copies both into chats."""

import django.db.models.deletion
import django.utils.timezone
from django.core.management.color import no_style
from django.db import migrations, models

BATCH = 1000


def _batches(rows, size):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _sequences_reset(schema_editor, model):
    # rows were inserted with their ids: the next id handed out must come after them
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [model]):
            cursor.execute(statement)


def customers_copy(apps, schema_editor, batch=BATCH):
    """chats' customers and client→customer links into distributor, ids kept. A link's
    time was never stored: bound_at is the earliest it could have been made (the later
    of the client's and the customer's creation)."""
    db = schema_editor.connection.alias
    old_customer = apps.get_model("chats", "Customer")
    client = apps.get_model("chats", "Client")
    customer = apps.get_model("distributor", "Customer")
    binding = apps.get_model("distributor", "CustomerBinding")
    rows = (
        old_customer.objects.using(db)
        .order_by("pk")
        .values_list("pk", "name", "phone", "email", "created_at")
        .iterator(chunk_size=batch)
    )
    for chunk in _batches(rows, batch):
        customer.objects.using(db).bulk_create(
            customer(pk=pk, name=name, phone=phone, email=email, created_at=created_at)
            for pk, name, phone, email, created_at in chunk
        )
    _sequences_reset(schema_editor, customer)
    links = (
        client.objects.using(db)
        .filter(customer__isnull=False)
        .order_by("pk")
        .values_list("pk", "customer_id", "created_at", "customer__created_at")
        .iterator(chunk_size=batch)
    )
    for chunk in _batches(links, batch):
        binding.objects.using(db).bulk_create(
            binding(
                client_id=client_id,
                customer_id=customer_id,
                bound_at=max(client_created_at, customer_created_at),
            )
            for client_id, customer_id, client_created_at, customer_created_at in chunk
        )


def customers_copy_back(apps, schema_editor, batch=BATCH):
    """The reverse: distributor's customers and bindings into chats, ids kept."""
    db = schema_editor.connection.alias
    old_customer = apps.get_model("chats", "Customer")
    client = apps.get_model("chats", "Client")
    customer = apps.get_model("distributor", "Customer")
    binding = apps.get_model("distributor", "CustomerBinding")
    rows = (
        customer.objects.using(db)
        .order_by("pk")
        .values_list("pk", "name", "phone", "email", "created_at")
        .iterator(chunk_size=batch)
    )
    for chunk in _batches(rows, batch):
        old_customer.objects.using(db).bulk_create(
            old_customer(pk=pk, name=name, phone=phone, email=email, created_at=created_at)
            for pk, name, phone, email, created_at in chunk
        )
    _sequences_reset(schema_editor, old_customer)
    links = (
        binding.objects.using(db)
        .order_by("customer_id", "client_id")
        .values_list("customer_id", "client_id")
        .iterator(chunk_size=batch)
    )
    for chunk in _batches(links, batch):
        by_customer = {}
        for customer_id, client_id in chunk:
            by_customer.setdefault(customer_id, []).append(client_id)
        for customer_id, client_ids in by_customer.items():
            client.objects.using(db).filter(pk__in=client_ids).update(customer_id=customer_id)


class Migration(migrations.Migration):

    dependencies = [
        ('chats', '0007_chat_scripts_version'),
        ('distributor', '0002_model_verbose_names'),
    ]

    operations = [
        migrations.CreateModel(
            name='Customer',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(blank=True, max_length=200, verbose_name='name')),
                ('phone', models.CharField(blank=True, max_length=20, null=True, unique=True, verbose_name='phone')),
                ('email', models.EmailField(blank=True, max_length=254, null=True, unique=True, verbose_name='e-mail')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
            ],
            options={
                'verbose_name': 'customer',
                'verbose_name_plural': 'customers',
                'constraints': [models.CheckConstraint(condition=models.Q(('phone__isnull', False), ('email__isnull', False), _connector='OR'), name='customer_has_phone_or_email', violation_error_message='A customer needs a phone or an e-mail.')],
            },
        ),
        migrations.CreateModel(
            name='CustomerBinding',
            fields=[
                ('client', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='customer_binding', serialize=False, to='chats.client', verbose_name='client')),
                ('bound_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='bound at')),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='bindings', to='distributor.customer', verbose_name='customer')),
            ],
            options={
                'verbose_name': 'customer binding',
                'verbose_name_plural': 'customer bindings',
            },
        ),
        migrations.RunPython(customers_copy, customers_copy_back, elidable=False),
    ]
