"""Chromium for the end-to-end browser tests (Playwright's sync API).

- ``chromium``: the browser binary.  Missing, the tests are skipped with the
  reason, unless ``REDWOOD_REQUIRE_BROWSER=1`` (CI), where they fail.
- ``browser``: one Chromium per test module.  Module scope, not session
  scope: Playwright's sync API marks its own event loop as the thread's
  running loop while it lives, which would break the asyncio tests of other
  modules; pytest tears a module's fixtures down before the next module.
- ``players``: ``players.open(server, code)`` -> :class:`Player`, a
  participant's own browser context (cookies, network) on the page the
  participant is at; closed after the test.
"""
import json

import pytest

from tests.browserkit import CHROMIUM_ARGS, require_chromium  # noqa: F401 (CHROMIUM_ARGS: the tests)

# Runs in every page before its scripts.  period-start/period-end do not
# bubble, but a capturing listener on the document sees them.  The log lives
# in sessionStorage, so it survives the form submit that leaves the page;
# every document adds its navigation start ("load", performance.timeOrigin).
INIT_SCRIPT = """
(() => {
  const log = (name, extra) => {
    const l = JSON.parse(sessionStorage.getItem('rwlog') || '[]');
    l.push(Object.assign({name, t: Date.now(), path: location.pathname}, extra || {}));
    sessionStorage.setItem('rwlog', JSON.stringify(l));
  };
  document.addEventListener('period-start', () => log('period-start'), true);
  document.addEventListener('period-end', () => log('period-end'), true);
  log('load', {t: performance.timeOrigin});
})();
"""

# Chromium's own console messages about a socket it could not open while
# offline, not errors of the page's code.
NETWORK_NOISE = ("WebSocket connection to", "net::ERR_INTERNET_DISCONNECTED", "Failed to load resource")


@pytest.fixture(scope="session")
def chromium():
    """Path of the Chromium binary, or skip (fail with REDWOOD_REQUIRE_BROWSER=1)."""
    return require_chromium()


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        br = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield br
        finally:
            br.close()
    finally:
        pw.stop()


class Player:
    """One participant in a browser context of their own."""

    def __init__(self, context, page, code, base):
        self.context = context
        self.page = page
        self.code = code
        self.base = base
        self.page_errors = []      # uncaught exceptions
        self.console_errors = []   # console.error, without network noise
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("console", self._on_console)

    def _on_console(self, msg):
        if msg.type == "error" and not any(n in msg.text for n in NETWORK_NOISE):
            self.console_errors.append(msg.text)

    @property
    def errors(self):
        return self.page_errors + self.console_errors

    def enter(self):
        self.page.goto("%s/InitializeParticipant/%s" % (self.base, self.code))
        return self

    def js(self, expression, arg=None):
        return self.page.evaluate(expression, arg)

    def decision(self, prop):
        """A property of the page's <redwood-decision id="decision">."""
        return self.js("(p) => document.getElementById('decision')[p]", prop)

    def wait(self, expression, arg=None, timeout=10000):
        self.page.wait_for_function(expression, arg=arg, timeout=timeout)

    def wait_running(self, timeout=15000):
        self.wait("() => { const p = document.querySelector('redwood-period');"
                  " return p && p.running === true; }", timeout=timeout)

    def wait_connected(self, timeout=15000):
        self.wait("() => window.redwoodSocket && window.redwoodSocket.connected", timeout=timeout)

    def wait_other(self, value, timeout=10000):
        """Until the page's decision element has `value` as otherDecision."""
        self.wait("(v) => { const d = document.getElementById('decision');"
                  " return d && JSON.stringify(d.otherDecision) === JSON.stringify(v); }",
                  arg=value, timeout=timeout)

    def wait_group(self, decisions, timeout=10000):
        """Until the decision element's groupDecisions equals `decisions`."""
        self.wait("(m) => { const g = document.getElementById('decision').groupDecisions || {};"
                  " const ks = Object.keys(g);"
                  " return ks.length === Object.keys(m).length && ks.every((k) => g[k] === m[k]); }",
                  arg=decisions, timeout=timeout)

    def slide(self, value):
        """Move the page's slider as a participant does (fires `input`)."""
        self.page.locator("#slider").fill(str(value))

    def wait_results(self, timeout=20000):
        self.page.wait_for_url("**/Results/**", timeout=timeout)

    def log(self):
        """The period-start/period-end/load log of this tab (see INIT_SCRIPT)."""
        return json.loads(self.js("() => sessionStorage.getItem('rwlog') || '[]'"))


class Players:
    def __init__(self, browser):
        self.browser = browser
        self.all = []

    def open(self, server, code, enter=True, **context_options):
        context_options.setdefault("viewport", {"width": 900, "height": 560})
        context = self.browser.new_context(**context_options)
        context.add_init_script(INIT_SCRIPT)
        context.set_default_timeout(15000)
        player = Player(context, context.new_page(), code, server.base)
        self.all.append(player)
        return player.enter() if enter else player

    def close(self):
        for p in self.all:
            try:
                p.context.close()
            except Exception:  # the browser may be gone after a failure
                pass


@pytest.fixture
def players(browser):
    ps = Players(browser)
    yield ps
    ps.close()
