"""Browser fixtures shared by the Playwright tests: Debian's chromium, one browser per
module, a fresh context per page. Star-import them into a test module or a
conftest.py; the tests themselves are marked `browser` and
`django_db(transaction=True)` and take `daphne_server` for the site."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

# the fixtures, for `from tests.browser_fixtures import *` in a test module or conftest.py
__all__ = ["_patient_expect", "browser", "new_page", "page", "screenshot_sizes", "screenshot_keep"]

# screenshots the browser tests keep for people to look at (gitignored; CI may upload it)
ARTEFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"
# the two sizes every screen is looked at: a desktop and a phone
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
screenshot_sizes = {"desktop": DESKTOP, "phone": PHONE}


def screenshot_keep(page, name: str) -> Path:
    """Save a full-page screenshot as var/test-artifacts/<name>.png and return its path."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# a ceiling for auto-waiting on a slow machine, not a claim about speed
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API drives its own asyncio loop from a greenlet on this
    # thread, so while it runs Django sees a running event loop and refuses ORM
    # calls ("You cannot call this from an async context"). Our ORM calls are plain
    # blocking calls from this one thread, which is what the check protects, so we
    # allow them - only while this module's browser is up, not for the whole run.
    # (The same running loop makes asgiref's async_to_sync refuse to run on this
    # thread: code that publishes to the channel layer must run on another thread.)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()


@pytest.fixture
def _patient_expect():
    expect.set_options(timeout=WAIT_MS)


@pytest.fixture
def new_page(browser, _patient_expect):
    """Open a page in a context of its own (its own cookies and storage): one per
    person in the test. All are closed when the test ends."""
    contexts = []

    def open_page():
        context = browser.new_context()
        contexts.append(context)
        context.set_default_timeout(WAIT_MS)
        return context.new_page()

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(new_page):
    return new_page()
