from reports import schedule_admin  # noqa: F401
