from django.urls import path

from reports.views import jobs

app_name = "reports"

urlpatterns: list = [
    path("jobs/", jobs.job_list, name="job_list"),
    path("jobs/<int:job_id>/status", jobs.job_status_json, name="job_status"),
    path("jobs/<int:job_id>/download", jobs.job_download, name="job_download"),
]
