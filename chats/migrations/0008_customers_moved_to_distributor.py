"""Customers now live in distributor (its 0003 copied the rows and every client's
customer into CustomerBinding first): chats drops its copies."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('chats', '0007_chat_scripts_version'),
        ('distributor', '0003_customers_from_chats'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='client',
            name='customer',
        ),
        migrations.DeleteModel(
            name='Customer',
        ),
    ]
