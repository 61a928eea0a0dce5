from django.urls import path

from telegram_bridge import views

app_name = "telegram_bridge"

urlpatterns = [
    path("telegram/webhook/<str:webhook_key>/", views.telegram_webhook, name="webhook"),
    path("telegram/files/<str:signed>/", views.telegram_file, name="file"),
]
