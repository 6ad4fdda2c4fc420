"""Chromium for the browser tests: Debian's binary, driven by Playwright.

One definition of where Chromium is, how it is started (headless, no
sandbox as root, no background networking: this machine has no internet)
and what happens without it: the tests are skipped with the reason, unless
``REDWOOD_REQUIRE_BROWSER=1`` (CI), where they fail.  Never
``playwright install``: the browser comes from Debian.
"""
import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def unavailable(reason):
    if os.environ.get("REDWOOD_REQUIRE_BROWSER") == "1":
        pytest.fail("REDWOOD_REQUIRE_BROWSER=1 but " + reason, pytrace=False)
    pytest.skip(reason)


def require_chromium():
    """The Chromium binary's path, or skip (fail under REDWOOD_REQUIRE_BROWSER=1)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        unavailable("no Chromium at %s (apt-get install chromium)" % CHROMIUM)
    try:
        import playwright  # noqa: F401
    except ImportError:
        unavailable("the playwright Python package is not installed (pip install -e .[test])")
    return CHROMIUM
