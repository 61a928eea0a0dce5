from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        # Celery's autodiscovery imports only `tasks` modules; the schedules' tasks
        # (reports.schedules_run) is registered here.
        from reports import schedule_tasks  # noqa: F401
