from django.urls import path

from telegram_bridge import views, views_proxy

app_name = "telegram_bridge"

urlpatterns = [
    path("telegram/webhook/<str:webhook_key>/", views.telegram_webhook, name="webhook"),
    path("telegram/files/<str:signed>/", views.telegram_file, name="file"),
    # the Bot API proxy for a parallel bot on the same token (docs/telegram.md)
    path(
        "telegram/proxy/<str:webhook_key>/bot<str:token>/<str:method>",
        views_proxy.telegram_proxy,
        name="proxy",
    ),
    path(
        "telegram/proxy/<str:webhook_key>/file/bot<str:token>/<path:file_path>",
        views_proxy.telegram_proxy_file,
        name="proxy_file",
    ),
    path("telegram/proxy/<path:rest>", views_proxy.telegram_proxy_unknown),
]
