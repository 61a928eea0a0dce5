from django.urls import path

from reports.views.dashboard import dashboard

app_name = "reports"

urlpatterns: list = [
    path("dashboard/", dashboard, name="dashboard"),
]
