from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from config.health import healthz


class FaviconView(RedirectView):
    """Browsers ask every site for /favicon.ico; the icon itself is a static file."""

    permanent = False

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("favicon.ico")


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="demo", permanent=False)),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("chats.urls")),
    path("", include("handoff.urls")),
    path("", include("telegram_bridge.urls")),
    path("reports/", include("reports.urls")),
    path("api/v1/", include("handoff.api.urls")),
]
