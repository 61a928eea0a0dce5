import pytest
from django.test import override_settings


@pytest.mark.django_db
def test_healthz_answers_200_when_database_and_redis_answer(client):
    # when
    response = client.get("/healthz")
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_healthz_answers_503_when_redis_does_not(client):
    # given: a Redis URL where nothing listens
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        # when
        response = client.get("/healthz")
    # then
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"].startswith("error")
