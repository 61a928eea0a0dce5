"""The admin index in Russian and Italian names every model of ours in the language:
no English "s" glued to a translated word ("Менеджерs", "Responsabiles") and no
English plural left over ("Messages", "Outbound messages")."""

import re
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib import admin
from django.utils.text import capfirst
from django.utils.translation import override

pytestmark = pytest.mark.django_db

OUR_APPS = ["chats", "distributor", "handoff", "telegram_bridge"]

# a Latin "s" right after a Cyrillic letter: Django's default plural of a translated name
CYRILLIC_WITH_LATIN_S = re.compile(r"[а-яё]s\b", re.IGNORECASE)


class _ModelNames(HTMLParser):
    """The model names the admin index lists, per app: the row headers of each app's table."""

    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, list[str]] = {}
        self._app: str | None = None
        self._in_row_header = False
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div":
            app = next((c[len("app-") :] for c in classes if c.startswith("app-")), None)
            if app:
                self._app = app
                self.names.setdefault(app, [])
        elif tag == "th" and dict(attrs).get("scope") == "row" and self._app:
            self._in_row_header = True
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "th" and self._in_row_header:
            self._in_row_header = False
            self.names[self._app].append(" ".join("".join(self._text).split()))

    def handle_data(self, data: str) -> None:
        if self._in_row_header:
            self._text.append(data)


def admin_model_names(client, language: str) -> dict[str, list[str]]:
    # the admin follows LocaleMiddleware: the browser's Accept-Language picks the language
    response = client.get("/admin/", secure=True, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert response["Content-Language"] == language
    parser = _ModelNames()
    parser.feed(response.content.decode())
    return {app: names for app, names in parser.names.items() if app in OUR_APPS}


def registered_models():
    return [model for model in admin.site._registry if model._meta.app_label in OUR_APPS]


def english_plurals() -> set[str]:
    with override("en"):
        return {str(capfirst(model._meta.verbose_name_plural)) for model in registered_models()}


def test_russian_admin_index_names_our_models_in_russian_plurals(admin_client):
    names = admin_model_names(admin_client, "ru")
    listed = [name for app_names in names.values() for name in app_names]

    assert sorted(names) == sorted(OUR_APPS)
    assert len(listed) == len(registered_models())
    assert [name for name in listed if CYRILLIC_WITH_LATIN_S.search(name)] == []
    assert [name for name in listed if not re.search("[а-яё]", name, re.IGNORECASE)] == []
    assert {"Менеджеры", "Чаты", "Сообщения", "Запросы"} <= set(listed)
    assert "Полученные обновления" in names["telegram_bridge"]
    assert "Ссылки для подключения менеджеров" in names["telegram_bridge"]


def test_italian_admin_index_names_our_models_in_italian_plurals(admin_client):
    names = admin_model_names(admin_client, "it")
    listed = [name for app_names in names.values() for name in app_names]

    assert len(listed) == len(registered_models())
    assert set(listed) & english_plurals() == set()
    assert "Responsabili" in names["distributor"]
    assert {"Messaggi", "Richieste"} <= set(listed)
    assert "Messaggi in uscita" in names["telegram_bridge"]


@pytest.mark.parametrize("app_label", OUR_APPS)
def test_every_model_of_ours_declares_a_translatable_plural(app_label):
    """Not only the admin index: delete confirmations and permissions name the other
    models too, so every model says its singular and plural (Django's default plural
    is the English "s" added to whatever the singular translates to)."""
    models = apps.get_app_config(app_label).get_models()
    missing = [
        model.__name__
        for model in models
        if not {"verbose_name", "verbose_name_plural"} <= set(model._meta.original_attrs)
    ]
    assert missing == []
