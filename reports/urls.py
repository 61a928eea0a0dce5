from django.urls import path  # noqa: F401 - the views arrive with issue 10's parts

app_name = "reports"

urlpatterns: list = []
