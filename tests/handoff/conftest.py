"""The shared Playwright fixtures for this package's browser tests."""

from tests.browser_fixtures import *  # noqa: F403 - browser, new_page, page
