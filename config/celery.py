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
# Report builds (minutes for a million rows) and their delivery wait in a queue of their
# own too, consumed by a worker of their own (`make run` starts one, concurrency 1;
# docker-compose.yml's reports-worker): a build never occupies a worker process that the
# handoff deadline sweep (every 2 s) or update processing needs. reports.sweep stays on
# "celery": it fails builds whose worker died, so it must not wait behind those builds.
REPORTS_QUEUE = "reports"
REPORTS_TASKS = ("reports.build_job", "reports.job_deliver", "reports.schedules_run")
# API bots' webhook deliveries (an HTTP call of up to 5 s each, to servers we do not run)
# and their retry sweep wait in a queue of their own: a slow or dead bot never delays the
# handoff deadline sweep on "celery".
WEBHOOKS_QUEUE = "webhooks"
# The parallel bot's webhook (telegram_bridge's Bot API proxy) is such a server too.
WEBHOOKS_TASKS = (
    "distributor.webhook_deliver",
    "distributor.webhooks_sweep",
    "telegram_bridge.forward_updates",
)
app.conf.task_routes = {
    "telegram_bridge.deliver_outbox": {"queue": TELEGRAM_SEND_QUEUE},
    **{name: {"queue": WEBHOOKS_QUEUE} for name in WEBHOOKS_TASKS},
    **{name: {"queue": REPORTS_QUEUE} for name in REPORTS_TASKS},
}
