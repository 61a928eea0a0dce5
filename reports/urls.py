from django.urls import path

from reports.views import auth, jobs, viewer
from reports.views.dashboard import dashboard

app_name = "reports"

urlpatterns: list = [
    path("login/", auth.AnalystLoginView.as_view(), name="login"),
    path("logout/", auth.AnalystLogoutView.as_view(), name="logout"),
    path("dialogs/", viewer.dialog_list, name="dialog_list"),
    path("dialogs/<str:session_id>/", viewer.dialog_detail, name="dialog_detail"),
    path("dashboard/", dashboard, name="dashboard"),
    path("jobs/", jobs.job_list, name="job_list"),
    path("jobs/<int:job_id>/status", jobs.job_status_json, name="job_status"),
    path("jobs/<int:job_id>/download", jobs.job_download, name="job_download"),
]
