from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from handoff.api import views

app_name = "api"

router = SimpleRouter()
router.register("dialogs", views.DialogViewSet, basename="dialog")
router.register("requests", views.RequestViewSet, basename="request")
router.register("customers", views.CustomerViewSet, basename="customer")
router.register("managers", views.ManagerViewSet, basename="manager")
router.register("chats", views.ChatViewSet, basename="chat")

urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    # the page's script is a file of its own (?script): no inline script under the CSP
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema",
            template_name="api/swagger_ui.html",
            authentication_classes=[],
            permission_classes=[],
        ),
        name="docs",
    ),
    path("", include(router.urls)),
    path("", include("handoff.api.bot_urls")),
    # anything else under /api/v1/: a JSON 404 like the API's own
    re_path(r"^", views.not_found),
]
