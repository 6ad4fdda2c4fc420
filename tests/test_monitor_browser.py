"""The live monitor and the replay page in a real Chromium, against a real server."""
import asyncio
import json
import math
import os
import shutil
import time

import pytest
import websockets

from tests import harness
from tests.browserkit import CHROMIUM_ARGS, require_chromium

APP = "decision_demo"
# the docs' screenshot: refreshed when missing or with REDWOOD_UPDATE_SCREENSHOT=1
# (not on every run, so that running the tests leaves the checkout clean)
SCREENSHOT = os.path.join(harness.ROOT, "docs", "_static", "monitor.png")

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


class Participant:
    """A participant's socket on the server, as the page's <redwood-events> opens it."""

    def __init__(self, server, group_pk, code):
        self.url = server.ws_base + harness.socket_path(APP, group_pk, code)
        self.code = code
        self.sock = None

    async def __aenter__(self):
        self.sock = await websockets.connect(self.url, open_timeout=10)
        return self

    async def __aexit__(self, *exc):
        await self.sock.close()

    async def send(self, channel, payload=None, **extra):
        msg = {"channel": channel, "payload": payload}
        msg.update(extra)
        await self.sock.send(json.dumps(msg))

    async def until(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(await asyncio.wait_for(self.sock.recv(), max(0.01, deadline - time.monotonic())))
            if predicate(msg):
                return msg


async def launch(playwright):
    return await playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)


async def points(page, selector):
    return int(await page.get_attribute(selector, "data-points"))


async def test_monitor_shows_connections_period_and_growing_chart(server, make_session, tmp_path):
    from playwright.async_api import async_playwright

    session, groups = make_session(APP, 4)
    (g1, (a, b)), (g2, (c, _d)) = groups
    srv = server()
    card1 = 'section.rw-group[data-group="%d"]' % g1
    card2 = 'section.rw-group[data-group="%d"]' % g2
    async with async_playwright() as p:
        browser = await launch(p)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(srv.base + "/redwood/monitor/session/%s/" % session.code)
            await page.wait_for_selector('#rw-status[data-state="live"]', timeout=10000)
            await page.wait_for_selector(card1, state="attached")
            assert await page.get_attribute(card1, "data-connected") == ""

            async with Participant(srv, g1, a) as pa, Participant(srv, g1, b) as pb, \
                    Participant(srv, g2, c):
                for pt in (pa, pb):
                    await pt.until(lambda m: m["channel"] == "state" and m["payload"] == "period_start")
                # each page reports its round-trip time with its pings
                await pa.send("ping", timestamp=time.time() * 1000, avg_ping_time=12.4)
                await pb.send("ping", timestamp=time.time() * 1000, avg_ping_time=48.0)
                both = " ".join(sorted([a, b]))
                await page.wait_for_function(
                    "([sel, want]) => document.querySelector(sel).dataset.connected === want",
                    arg=[card1, both], timeout=10000)
                await page.wait_for_function(
                    "sel => document.querySelector(sel).dataset.connected !== ''", arg=card2, timeout=10000)
                assert await page.get_attribute(card2, "data-connected") == c
                assert await page.get_attribute(card1, "data-state") == "period_start"
                assert await page.inner_text(card1 + " .rw-state") == "running"
                remaining = float(await page.get_attribute(card1, "data-remaining"))
                assert 0 < remaining <= 60  # of a 60 s period (how much is left depends on the load)
                assert await page.inner_text(card2 + " .rw-state") == "not started"
                await page.wait_for_function(
                    "sel => document.querySelector(sel).textContent === '12 ms'",
                    arg=card1 + ' tr[data-code="%s"] .rw-rtt' % a, timeout=10000)

                before = await points(page, card1 + " .rw-chart")
                assert before >= 1  # the opening map of the period
                # two members moving their sliders for a few seconds
                for i in range(40):
                    if i % 2:
                        await pa.send("decisions", round(0.5 + 0.4 * math.sin(i / 6.0), 3))
                    else:
                        await pb.send("decisions", round(0.5 + 0.3 * math.cos(i / 9.0), 3))
                    await asyncio.sleep(0.08)
                await pa.send("decisions", 0.25)
                await pb.until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == 0.25)
                await page.wait_for_function(
                    "([sel, n]) => Number(document.querySelector(sel).dataset.points) > n",
                    arg=[card1 + " .rw-chart", before + 10], timeout=10000)
                await page.wait_for_function(
                    "sel => document.querySelector(sel).textContent === '0.25'",
                    arg=card1 + ' tr[data-code="%s"] .rw-decision' % a, timeout=10000)
                rate = await page.inner_text(card1 + " .rw-rate")
                assert rate != "–"
                assert await page.locator(card1 + " .rw-chart canvas").count() == 1
                after = await points(page, card1 + " .rw-chart")
                assert after > before + 10
                shot = str(tmp_path / "monitor.png")
                await page.screenshot(path=shot, full_page=True)

            # the participants left: the monitor notices within a few reports
            await page.wait_for_function(
                "sel => document.querySelector(sel).dataset.connected === ''", arg=card1, timeout=10000)
            assert errors == []
        finally:
            await browser.close()
    assert os.path.getsize(shot) > 10000
    if os.environ.get("REDWOOD_UPDATE_SCREENSHOT") == "1" or not os.path.exists(SCREENSHOT):
        os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


async def test_replay_page_steps_and_plays(server, make_session):
    from playwright.async_api import async_playwright

    session, groups = make_session(APP, 2)
    (g1, (a, b)), = groups
    srv = server()
    async with Participant(srv, g1, a) as pa, Participant(srv, g1, b) as pb:
        await pa.until(lambda m: m["channel"] == "state" and m["payload"] == "period_start")
        for i in range(8):
            await (pa if i % 2 else pb).send("decisions", i / 10.0)
            await asyncio.sleep(0.03)
        await pa.until(lambda m: m["channel"] == "group_decisions" and m["payload"][b] == 0.6)
        await pb.send("decisions", 0.95)
        await pa.until(lambda m: m["channel"] == "group_decisions" and m["payload"][b] == 0.95)

    async with async_playwright() as p:
        browser = await launch(p)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(srv.base + "/redwood/debug/session/%s/" % session.code)
            await page.wait_for_selector("#rw-status[data-loaded]", timeout=10000)
            total = int(await page.get_attribute("#rw-replay", "data-total"))
            assert total >= 2 + 9 * 2  # state, opening map, 9 decisions and their maps
            assert await page.get_attribute("#rw-replay", "data-index") == "0"
            for _ in range(3):
                await page.click("#rw-step")
            assert await page.get_attribute("#rw-replay", "data-index") == "3"
            assert await page.inner_text("#rw-state") == "running"
            assert await page.locator("#rw-log tr").count() == 3
            await page.select_option("#rw-speed", "50")
            await page.click("#rw-play")
            await page.wait_for_function(
                "n => document.querySelector('#rw-replay').dataset.index === String(n)", arg=total, timeout=15000)
            assert int(await page.get_attribute("#rw-chart", "data-points")) == 10  # opening map + 9 decisions
            decision_b = page.locator('#rw-members tr[data-code="%s"] .rw-decision' % b)
            assert await decision_b.inner_text() == "0.95"
            await page.click("#rw-reset")
            assert await page.get_attribute("#rw-replay", "data-index") == "0"
            assert await page.get_attribute("#rw-chart", "data-points") == "0"
            assert errors == []
        finally:
            await browser.close()
