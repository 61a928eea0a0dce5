from django.contrib.auth import views as auth_views
from django.urls import path

from handoff import views

urlpatterns = [
    path("console/", views.console, name="console"),
    path("console/requests/<int:request_id>/", views.console, name="console_request"),
    path("console/login/", views.ConsoleLoginView.as_view(), name="console_login"),
    path(
        "console/logout/",
        auth_views.LogoutView.as_view(next_page="console_login"),
        name="console_logout",
    ),
]
