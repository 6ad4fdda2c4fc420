"""A 0.9.x-style Polymer 3 page, played by two participants in a real Chromium.

The page of tests/legacy_apps/legacy_polymer is written the way 0.9.x
experiments are: a PolymerElement imported from
/static/otree-redwood/node_modules/, with iron-flex-layout, paper-styles,
paper-ripple and iron-a11y-keys-behavior from the same tree, bound two-way to
<redwood-decision> and <redwood-period>, chatting through <redwood-channel>.
One missing file or one failing import would stop the page's whole module
graph: the element would never upgrade and no period would run.
"""
import os

import pytest

from tests import harness
from tests.browserkit import CHROMIUM_ARGS, require_chromium

APP = "legacy_polymer"
LIST = os.path.join(harness.ROOT, "tests", "data", "node_modules-0.9.x.txt")

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def chromium():
    return require_chromium()


class Tab:
    """One participant's page in a browser context of its own (own cookies)."""

    def __init__(self, page, code):
        self.page = page
        self.code = code
        self.problems = []  # console errors, uncaught exceptions, failed or 4xx/5xx requests
        page.on("console", lambda m: m.type == "error" and self.problems.append("console: " + m.text))
        page.on("pageerror", lambda e: self.problems.append("exception: %s" % e))
        page.on("requestfailed", lambda r: self.problems.append("failed: %s %s" % (r.url, r.failure)))
        page.on("response", lambda r: r.status >= 400 and self.problems.append("%d: %s" % (r.status, r.url)))

    async def game(self, expression, arg=None):
        """`expression` with `game` (the <legacy-game>) and `root` (its shadow root) in scope."""
        return await self.page.evaluate(
            "([arg]) => { const game = document.getElementById('game'); const root = game.shadowRoot;"
            " return (%s); }" % expression, [arg])

    async def wait_game(self, expression, arg=None, timeout=30000):
        try:
            await self.page.wait_for_function(
                "([arg]) => { const game = document.getElementById('game');"
                " const root = game && game.shadowRoot; if (!root) return false; return (%s); }" % expression,
                arg=[arg], timeout=timeout)
        except Exception:
            raise AssertionError("page of %s: %r not met; problems: %r" % (self.code, expression, self.problems))


async def open_tab(browser, server, code):
    context = await browser.new_context(viewport={"width": 900, "height": 500})
    context.set_default_timeout(30000)
    tab = Tab(await context.new_page(), code)
    await tab.page.goto("%s/InitializeParticipant/%s" % (server.base, code))
    return tab


async def test_polymer_page_plays_a_period(chromium, server, make_session):
    from playwright.async_api import async_playwright

    session, ((_group_pk, (a, b)),) = make_session(APP, 2)
    srv = server()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            ta = await open_tab(browser, srv, a)
            tb = await open_tab(browser, srv, b)
            for t in (ta, tb):
                # the element upgraded (its whole import graph loaded), the
                # period started (running-changed reached the binding) and the
                # opening map arrived (group-decisions-changed)
                await t.wait_game("root.getElementById('running').textContent === 'true'"
                                  " && root.getElementById('members').textContent === '2'")
                assert await t.game("root.getElementById('mine').textContent") == "0.5"
                assert await t.game("getComputedStyle(root.querySelector('.row')).display") == "flex"

            # A clicks the button (paper-ripple inside), then presses the up key
            # (iron-a11y-keys-behavior): 0.5 -> 0.6 -> 0.7
            await ta.page.locator("legacy-game #up").click()
            await ta.wait_game("game.myDecision === 0.6")
            await ta.page.locator("legacy-game").focus()
            await ta.page.keyboard.press("ArrowUp")
            await ta.wait_game("game.myDecision === 0.7")
            assert await ta.game("root.querySelectorAll('#up paper-ripple').length") == 1

            # B's page shows it, through B's own bindings
            await tb.wait_game("root.getElementById('other').textContent === '0.7'")
            assert await tb.game("game.groupDecisions[arg]", a) == 0.7
            assert await tb.game("root.getElementById('mine').textContent") == "0.5"

            # a custom channel, re-broadcast by the group's _on_chat_event
            await tb.game("game.say('hello from B')")
            for t in (ta, tb):
                await t.wait_game("root.getElementById('message').textContent === arg", "%s: hello from B" % b)

            # period_length 5: the period ends and both pages move on by themselves
            for t in (ta, tb):
                await t.page.wait_for_url("**/Results/**", timeout=60000)
                await t.page.wait_for_selector("#final")
            assert await ta.page.inner_text("#final") == "0.7"
            assert await tb.page.inner_text("#final") == "0.5"

            assert ta.problems == []
            assert tb.problems == []
        finally:
            await browser.close()


async def test_every_listed_module_evaluates_in_chromium(chromium, server):
    """Each file of the 0.9.4 tree, imported on its own, loads and runs without an error."""
    from playwright.async_api import async_playwright

    with open(LIST) as f:
        paths = [line.strip() for line in f if line.strip()]
    srv = server()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            tab = Tab(page, None)
            # font-roboto/roboto.js (imported by paper-styles/typography.js)
            # adds a stylesheet link to Google Fonts, as in 0.9.4; the tests
            # send nothing off this machine, so that request is answered here
            async def no_fonts(route):
                await route.fulfill(status=200, content_type="text/css", body="")

            await page.route("https://fonts.googleapis.com/**", no_fonts)
            # any document of the server's origin: import() resolves against it
            await page.goto(srv.base + "/static/otree-redwood/package.json")
            results = await page.evaluate(
                """async (paths) => {
                  const out = {};
                  for (const p of paths) {
                    try { await import('/static/otree-redwood/' + p); out[p] = 'ok'; }
                    catch (e) { out[p] = String(e); }
                  }
                  return out;
                }""", paths)
            failed = {p: r for p, r in results.items() if r != "ok"}
            assert failed == {}, (tab.problems[:10], srv.read_log()[-3000:])
            assert len(results) == 120
            assert tab.problems == []
        finally:
            await browser.close()
