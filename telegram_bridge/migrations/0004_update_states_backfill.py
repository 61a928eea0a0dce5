"""The stored updates' states from their outcomes, after 0002 added the columns.

What the code needs first: an unfinished update of no chat was queued as chat 0, which
is no chat (the processor now reads those with telegram_chat_id NULL), and chat 0's
TelegramChat row goes. Then, for the admin's "state" column and filter only: updates
already handled were processed, or failed when they have an error. Unfinished updates
keep the defaults (pending, no attempts), which is what they are.

Outside any schema change and in batches by primary key, each committed on its own
(the migration is not atomic), so the webhook goes on storing updates meanwhile."""

from django.db import migrations
from django.db.models import Max

BATCH = 1000


def _in_batches(TelegramUpdate, batch):
    highest = TelegramUpdate.objects.aggregate(highest=Max("pk"))["highest"] or 0
    for start in range(0, highest + 1, batch):
        yield TelegramUpdate.objects.filter(pk__gte=start, pk__lt=start + batch)


def update_states_backfill(apps, schema_editor, *, batch=BATCH):
    TelegramUpdate = apps.get_model("telegram_bridge", "TelegramUpdate")
    TelegramChat = apps.get_model("telegram_bridge", "TelegramChat")
    # the index (bot, telegram_chat_id, processed_at, update_id) finds these
    TelegramUpdate.objects.filter(telegram_chat_id=0).update(telegram_chat_id=None)
    TelegramChat.objects.filter(telegram_chat_id=0).delete()
    for rows in _in_batches(TelegramUpdate, batch):
        finished = rows.filter(processed_at__isnull=False, state="pending")
        finished.filter(error="").update(state="processed", attempts=1)
        finished.exclude(error="").update(state="failed", attempts=1)


def chat_zero_again(apps, schema_editor):
    """Back to 0002's schema, where the chat was required: no chat is chat 0 again."""
    TelegramUpdate = apps.get_model("telegram_bridge", "TelegramUpdate")
    TelegramUpdate.objects.filter(telegram_chat_id__isnull=True).update(telegram_chat_id=0)


class Migration(migrations.Migration):
    atomic = False  # each batch is committed on its own

    dependencies = [
        ("telegram_bridge", "0003_model_verbose_names"),
    ]

    operations = [
        migrations.RunPython(update_states_backfill, chat_zero_again, elidable=True),
    ]
