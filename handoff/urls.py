from django.urls import path

from handoff import views, views_uploads

urlpatterns = [
    path("console/", views.console, name="console"),
    path("console/requests/<int:request_id>/", views.console, name="console_request"),
    path(
        "console/requests/<int:request_id>/uploads",
        views_uploads.console_upload,
        name="console_upload",
    ),
    path("console/login/", views.ConsoleLoginView.as_view(), name="console_login"),
    path("console/logout/", views.ConsoleLogoutView.as_view(), name="console_logout"),
]
