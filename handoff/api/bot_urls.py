"""The API bots' endpoints (registration, replies, handoff): handoff.api.bots."""

urlpatterns: list = []
