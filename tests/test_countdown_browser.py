"""<redwood-countdown> in Chromium: the demo shows the time left on the server's clock.

One participant's PC clock is an hour behind: the countdown still shows the
period's time left, because it runs on the server's clock (offset from the
ping replies).  A reload (a new socket) finds the same end.  At the end the
countdown reads 00:00 and the demo's slider is disabled.
"""

import pytest

from tests.browserkit import CHROMIUM_ARGS, require_chromium

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.usefixtures("example_configs_installed")]

# the PC's clock is one hour behind the server's
SKEWED_CLOCK = """
(() => {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() - 3600 * 1000;
})();
"""


def _chromium_or_skip():
    require_chromium()


def _seconds(text):
    minutes, seconds = text.strip().split(":")
    return int(minutes) * 60 + int(seconds)


async def test_countdown_counts_down_on_the_server_clock(make_session, server):
    _chromium_or_skip()
    from playwright.async_api import async_playwright

    length = 8
    session, ((group_pk, (a, b)),) = make_session("decision_demo", 2, period_length=length)
    srv = server()
    errors = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        try:
            pages = []
            for code, skewed in ((a, True), (b, False)):
                context = await browser.new_context()
                if skewed:
                    await context.add_init_script(SKEWED_CLOCK)
                page = await context.new_page()
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto("%s/InitializeParticipant/%s" % (srv.base, code))
                pages.append(page)
            pa, pb = pages
            # keep a's page after the end, to look at it (period-end is cancelable)
            await pa.evaluate("""() => document.querySelector('redwood-period')
                .addEventListener('period-end', (e) => e.preventDefault())""")
            for page in pages:
                await page.wait_for_function(
                    "document.getElementById('countdown').dataset.state === 'running'", timeout=20000)
            # the server's clock offset is known once a ping was answered
            await pa.wait_for_function("window.redwoodSocket.clockOffsetMs !== null", timeout=10000)
            first = await pa.text_content("#countdown .redwood-countdown-time")
            assert 0 < _seconds(first) <= length, first  # not 60:08 (the PC's clock)
            await pa.wait_for_function(
                "(t) => { const s = document.querySelector('#countdown .redwood-countdown-time').textContent;"
                " const [m, x] = s.split(':'); return Number(m) * 60 + Number(x) < t; }",
                arg=_seconds(first), timeout=10000)
            bar = await pa.evaluate("() => parseFloat(document.querySelector('#countdown .progress-bar').style.width)")
            assert 0 < bar < 100
            # b reloads (a new socket): the replayed period_start gives the same end
            end_a = await pa.evaluate("() => document.querySelector('redwood-period').endTime")
            await pb.reload()
            await pb.wait_for_function(
                "document.getElementById('countdown').dataset.state !== 'waiting'", timeout=20000)
            end_b = await pb.evaluate("() => document.querySelector('redwood-period').endTime")
            assert end_a == end_b and end_a is not None
            # the end: zero left, a full bar, the slider disabled
            await pa.wait_for_function(
                "document.getElementById('countdown').dataset.state === 'ended'", timeout=30000)
            assert await pa.text_content("#countdown .redwood-countdown-time") == "00:00"
            assert await pa.evaluate("() => document.querySelector('#countdown .progress-bar').style.width") == "100%"
            assert await pa.evaluate("() => document.getElementById('slider').disabled") is True
            assert await pa.evaluate("() => document.querySelector('redwood-period').secondsRemaining") == 0
            # b's page moved on, and its results show the decisions as numbers
            await pb.wait_for_url("**/Results/**", timeout=20000)
            cells = [c.split()[0] for c in await pb.locator("#final-decisions td").all_text_contents()]
            assert cells in (["Player", "0.50", "You", "0.50"], ["You", "0.50", "Player", "0.50"])
        finally:
            await browser.close()
    assert errors == []
