from django.urls import path

from reports.views import auth, viewer
from reports.views.dashboard import dashboard

app_name = "reports"

urlpatterns: list = [
    path("login/", auth.AnalystLoginView.as_view(), name="login"),
    path("logout/", auth.AnalystLogoutView.as_view(), name="logout"),
    path("dialogs/", viewer.dialog_list, name="dialog_list"),
    path("dialogs/<str:session_id>/", viewer.dialog_detail, name="dialog_detail"),
    path("dashboard/", dashboard, name="dashboard"),
]
