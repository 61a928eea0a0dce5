import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("baton")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Telegram sends wait in a queue of their own, so they never queue behind a burst of
# updates to process (or any other task): a worker consuming only this queue keeps a
# bot at Telegram's 30 messages/s. `make run`'s worker consumes both
# (BATON_CELERY_QUEUES); a worker started without --queues consumes only "celery".
TELEGRAM_SEND_QUEUE = "telegram"
app.conf.task_routes = {"telegram_bridge.deliver_outbox": {"queue": TELEGRAM_SEND_QUEUE}}
