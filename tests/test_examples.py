"""The example apps: payoff rules on hand-made histories, then each app
played through real sockets (short periods) with the results checked."""
import asyncio
import datetime

import pytest

from tests.browserkit import CHROMIUM_ARGS, require_chromium

from continuous_pd.payoffs import MATRIX as PD, flow_payoff, own_decision
from double_auction import market
from mean_matching import payoffs as hd
from otree_redwood.payoffs import decision_series, integrate

UTC = datetime.timezone.utc


pytestmark = pytest.mark.usefixtures("example_configs_installed")


# ------------------------------------------------------------ pure functions


def test_flow_payoff_is_the_matrix_for_pure_choices_and_expected_value_for_mixed():
    assert flow_payoff(1, 1) == PD["cc"]
    assert flow_payoff(1, 0) == PD["cd"]
    assert flow_payoff(0, 1) == PD["dc"]
    assert flow_payoff(0, 0) == PD["dd"]
    assert flow_payoff(0.5, 0.5) == pytest.approx(sum(PD.values()) / 4)


def _series(history, start, end, **kw):
    """A Series from [(seconds, map)] and the period's bounds in seconds."""
    return decision_series([(t * 1000.0, "group_decisions", m) for t, m in history],
                           start_ms=start * 1000.0, end_ms=end * 1000.0, **kw)


def test_time_weighted_payoffs_on_a_hand_made_history():
    # period [0, 10]: both cooperate, a defects at 4, b defects at 7
    series = _series([(0.01, {"a": 1, "b": 1}), (4, {"a": 0, "b": 1}), (7, {"a": 0, "b": 0})], 0, 10)
    out = integrate(series, flow_payoff, average=True)
    assert out["a"] == pytest.approx((4 * 100 + 3 * 150 + 3 * 25) / 10)  # 92.5
    assert out["b"] == pytest.approx((4 * 100 + 3 * 0 + 3 * 25) / 10)  # 47.5
    coop = integrate(series, own_decision, average=True)
    assert coop == pytest.approx({"a": 0.4, "b": 0.7})


def test_history_is_clamped_to_the_period():
    t = lambda s: datetime.datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC) + datetime.timedelta(seconds=s)  # noqa: E731
    history = [
        (t(-5), {"a": 0, "b": 0}),   # superseded before the start: never counts
        (t(-1), {"a": 1, "b": 0}),   # holds from the start to 6
        (t(6), {"a": 1, "b": 1}),
        (t(12), {"a": 0, "b": 0}),   # after the end: never counts
    ]
    series = decision_series([(ts, "group_decisions", m) for ts, m in history], start_ms=t(0), end_ms=t(10))
    pieces = [(round((t1 - t0) / 1000.0, 6), m) for t0, t1, m in series]
    assert pieces == [(6, {"a": 1, "b": 0}), (4, {"a": 1, "b": 1})]
    out = integrate(series, flow_payoff, average=True)
    assert out["a"] == pytest.approx((6 * 0 + 4 * 100) / 10)
    assert out["b"] == pytest.approx((6 * 150 + 4 * 100) / 10)


def test_subperiods_each_count_for_their_length():
    # period [100, 104] in 4 sub-periods: maps at the start and at 101..104
    history = [
        (100.002, {"a": 1, "b": 1}),  # the initial decisions, sent with the start
        (101.0, {"a": 0, "b": 1}),
        (102.01, {"a": 0, "b": 1}),
        (103.0, {"a": 1, "b": 1}),
        (104.0, {"a": 1, "b": 0}),
    ]
    series = _series(history, 100, 104, num_subperiods=4, period_length=4)
    assert [m for _, m in series.steps] == [m for _, m in history[1:]]
    out = integrate(series, flow_payoff)
    # a: 150, 150, 100, 0 points per second, one second each; b: 0, 0, 100, 150
    assert out["a"] == pytest.approx(400)
    assert out["b"] == pytest.approx(250)
    assert integrate(series, flow_payoff, average=True)["b"] == pytest.approx(62.5)
    assert integrate(series, own_decision, average=True)["a"] == pytest.approx(0.5)


def test_mean_matching_plays_against_the_mean_of_the_others():
    eq = hd.mixed_equilibrium()
    assert eq == pytest.approx(2 / 3)
    assert hd.flow_payoff(1, eq) == pytest.approx(hd.flow_payoff(0, eq))
    # three players for 10 s: a Hawk, b and c Dove; then c turns Hawk at 5
    series = _series([(0, {"a": 1, "b": 0, "c": 0}), (5, {"a": 1, "b": 0, "c": 1})], 0, 10)
    out = integrate(series, hd.flow_against_others, average=True)
    m = hd.MATRIX
    # a meets mean 0, then 0.5; b meets 0.5, then 1
    assert out["a"] == pytest.approx((5 * m["hd"] + 5 * hd.flow_payoff(1, 0.5)) / 10)
    assert out["b"] == pytest.approx((5 * hd.flow_payoff(0, 0.5) + 5 * m["dh"]) / 10)
    assert integrate(series, lambda mine, others: mine, average=True)["c"] == pytest.approx(0.5)


def test_market_matches_crossing_orders_at_the_standing_price_oldest_first():
    book = market.empty_book()
    book, o1, t = market.submit(book, "ask", 3, 60)
    assert t is None
    book, o2, t = market.submit(book, "ask", 4, 60)  # same price, later
    book, o3, t = market.submit(book, "bid", 1, 50)
    assert t is None and not market.is_crossed(book)
    book, o4, t = market.submit(book, "bid", 2, 70)
    assert t == {"price": 60, "buyer": 2, "seller": 3, "bid": o4["id"], "ask": o1["id"]}
    assert [o["trader"] for o in book["asks"]] == [4] and [o["price"] for o in book["bids"]] == [50]
    book, o5, t = market.submit(book, "ask", 4, 40)  # replaces 4's ask, crosses the bid of 50
    assert t["price"] == 50 and (t["buyer"], t["seller"]) == (1, 4)
    assert book["bids"] == [] and book["asks"] == []


def test_market_new_order_replaces_the_standing_one_and_cancel_removes_it():
    book = market.empty_book()
    book, _, _ = market.submit(book, "bid", 1, 30)
    book, _, _ = market.submit(book, "bid", 1, 35)
    assert [o["price"] for o in book["bids"]] == [35]
    book2, removed = market.remove_orders(book, 1)
    assert book2["bids"] == [] and [o["price"] for o in removed] == [35]
    assert [o["price"] for o in book["bids"]] == [35]  # pure: the input is unchanged


@pytest.mark.parametrize("payload, reason", [
    ({"price": "abc"}, "must be a number"),
    ({"price": True}, "must be a number"),
    ({"price": 10.5}, "whole number"),
    ({"price": float("inf")}, "whole number"),
    ({"price": 0}, "between 1 and 200"),
    ({"price": 201}, "between 1 and 200"),
    ({}, "must be a number"),
])
def test_market_refuses_bad_prices(payload, reason):
    with pytest.raises(market.Rejected) as exc:
        market.parse_price(payload, 200)
    assert reason in exc.value.reason


def test_market_refuses_orders_against_role_limit_or_units():
    with pytest.raises(market.Rejected, match="only buyers"):
        market.check_order("bid", 10, "seller", 30, 1)
    with pytest.raises(market.Rejected, match="only sellers"):
        market.check_order("ask", 10, "buyer", 30, 1)
    with pytest.raises(market.Rejected, match="more than your value"):
        market.check_order("bid", 31, "buyer", 30, 1)
    with pytest.raises(market.Rejected, match="less than your cost"):
        market.check_order("ask", 29, "seller", 30, 1)
    with pytest.raises(market.Rejected, match="no units"):
        market.check_order("bid", 10, "buyer", 30, 0)
    market.check_order("bid", 30, "buyer", 30, 1)  # at the limit: allowed


# ------------------------------------------------------------ through sockets


def _db(fn):
    from otree_redwood.engine import runtime

    return runtime.db_sync(fn)()


def _set_payoffs(group_model, group_pk):
    """What the results wait page does: set_payoffs() under oTree's cache, which saves."""
    from otree.db import idmap

    with idmap.use_cache():
        group_model.objects.get(pk=group_pk).set_payoffs()
    return group_model.objects.get(pk=group_pk)


async def _connect_all(ws, app, group_pk, codes):
    clients = [await ws(app, group_pk, c) for c in codes]
    for c in clients:
        await c.recv_until(lambda m: m["channel"] == "state" and m["payload"] == "period_start", timeout=10)
    return clients


async def _until_end(clients, timeout=15):
    for c in clients:
        await c.recv_until(lambda m: m["channel"] == "state" and m["payload"] == "period_end", timeout=timeout)


def _maps(client, start_ts):
    """The group_decisions broadcasts since the start (a map sent to a socket
    as it connects carries no seq: it is no broadcast)."""
    return [(m["ts"], m["payload"]) for m in client.received
            if m["channel"] == "group_decisions" and m["ts"] >= start_ts and m.get("seq") is not None]


def _start_ts(client):
    return next(m["ts"] for m in client.received if m["channel"] == "state" and m["payload"] == "period_start")


async def test_continuous_pd_payoffs_follow_the_decisions_and_their_times(make_session, ws):
    session, ((group_pk, (a, b)),) = make_session("continuous_pd", 2, period_length=2)
    ca, cb = await _connect_all(ws, "continuous_pd", group_pk, [a, b])
    await asyncio.sleep(0.8)
    await ca.send("decisions", 0)  # a defects; b keeps cooperating
    await _until_end([ca, cb])

    def finish():
        from continuous_pd.models import Group

        group = _set_payoffs(Group, group_pk)
        players = {p.participant.code: p for p in group.get_players()}
        switch = next(e.timestamp for e in group.get_group_decisions_events() if e.value[a] == 0)
        return group.get_start_time(), group.get_end_time(), switch, players

    start, end, switch, players = await _db(finish)
    length = (end - start).total_seconds()
    assert length >= 2  # never early (how late depends on the machine's load)
    f = (end - switch).total_seconds() / length  # share of the period a defected
    assert 0 < f < 1
    expect_a = (1 - f) * PD["cc"] + f * PD["dc"]
    expect_b = (1 - f) * PD["cc"] + f * PD["cd"]
    # payoffs keep two decimals (POINTS_DECIMAL_PLACES in settings.py)
    assert abs(float(players[a].payoff) - expect_a) <= 0.005 + 1e-6
    assert abs(float(players[b].payoff) - expect_b) <= 0.005 + 1e-6
    assert players[a].cooperation == pytest.approx(1 - f, abs=1e-3)
    assert players[b].cooperation == pytest.approx(1.0)
    # what the pages saw on the wire gives the same payoffs
    wire = integrate(decision_series(
        [(ts, "group_decisions", m) for ts, m in _maps(cb, _start_ts(cb))],
        start_ms=_start_ts(cb), end_ms=cb.received[-1]["ts"],
    ), flow_payoff, average=True)
    assert wire[a] == pytest.approx(expect_a, abs=0.01)


async def test_subperiod_pd_counts_only_the_choice_standing_at_each_subperiod_end(make_session, ws):
    # sub-periods of 2 s: each step below has seconds of slack on a loaded machine
    session, ((group_pk, (a, b)),) = make_session("subperiod_pd", 2, period_length=8, num_subperiods=4)
    ca, cb = await _connect_all(ws, "subperiod_pd", group_pk, [a, b])
    await ca.send("decisions", 0)                     # sub-period 1
    # the map of sub-period 2 has come: now in sub-period 3
    await cb.recv_until(lambda m: m["channel"] == "group_decisions" and m.get("seq") and
                        len([f for f in cb.received if f["channel"] == "group_decisions" and "seq" in f]) == 2,
                        timeout=30)
    for d in (1, 0, 1):                               # only the last one counts
        await ca.send("decisions", d)
    await _until_end([ca, cb])

    start = _start_ts(cb)
    maps = _maps(cb, start)
    # exactly one broadcast per sub-period, at its end (as in 0.9.x)
    assert len(maps) == 4
    sub = [m for _, m in decision_series([(ts, "group_decisions", m) for ts, m in maps], start_ms=start,
                                         end_ms=cb.received[-1]["ts"], num_subperiods=4, period_length=8).steps]
    assert [m[a] for m in sub] == [0, 0, 1, 1]
    assert [m[b] for m in sub] == [1, 1, 1, 1]
    for k, (ts, _) in enumerate(maps, start=1):
        assert ts - start >= k * 2000 - 1  # at the sub-period ends, never before

    def finish():
        from subperiod_pd.models import Group

        group = _set_payoffs(Group, group_pk)
        return {p.participant.code: (float(p.payoff), p.subperiods_played, p.cooperation)
                for p in group.get_players()}, group.subperiod_group_decisions

    players, last = await _db(finish)
    # the last sub-period runs to the stored period_end (a few ms late at most)
    assert players[a] == pytest.approx((125.0, 4, 0.5), abs=0.51)    # defect, defect, cooperate, cooperate
    assert players[a][2] == pytest.approx(0.5, abs=0.01)
    assert players[b] == pytest.approx((50.0, 4, 1.0), abs=0.51)     # 0, 0, 100, 100
    assert players[b][2] == pytest.approx(1.0, abs=1e-9)  # a time-weighted share: float sums
    assert last == {a: 1, b: 1}


async def test_mean_matching_rate_limits_broadcasts_and_loses_no_decision(make_session, ws):
    session, ((group_pk, codes),) = make_session("mean_matching", 4, period_length=2.5, rate_limit=0.2)
    assert len(codes) == 4
    clients = await _connect_all(ws, "mean_matching", group_pk, codes)
    last = {}
    for step in range(40):  # 4 players x 40 decisions in about 1 s
        for i, c in enumerate(clients):
            last[codes[i]] = round((step * (i + 1)) % 17 / 16, 4)
            await c.send("decisions", last[codes[i]])
        await asyncio.sleep(0.025)
    await _until_end(clients)

    for c in clients:
        start = _start_ts(c)
        maps = _maps(c, start)
        assert maps[-1][1] == last  # every member's latest decision reached everyone
        gaps = [y[0] - x[0] for x, y in zip(maps[1:], maps[2:])]
        assert gaps and min(gaps) >= 200 - 5  # never more often than the rate limit
        assert len(maps) <= 2 + 2.5 / 0.2      # 160 decisions, a handful of broadcasts

    def finish():
        from mean_matching.models import Group

        group = _set_payoffs(Group, group_pk)
        rows = [(e.timestamp, "group_decisions", e.value) for e in group.get_group_decisions_events()]
        series = decision_series(rows, start_ms=group.get_start_time(), end_ms=group.get_end_time())
        result = {"payoff": integrate(series, hd.flow_against_others, codes, average=True),
                  "hawk": integrate(series, lambda mine, others: mine, codes, average=True)}
        return {p.participant.code: (float(p.payoff), p.hawk) for p in group.get_players()}, result

    players, result = await _db(finish)
    for code in codes:
        assert abs(players[code][0] - result["payoff"][code]) <= 0.5 + 1e-6
        assert players[code][1] == pytest.approx(result["hawk"][code])
    assert min(hd.MATRIX.values()) <= min(p[0] for p in players.values())
    assert max(p[0] for p in players.values()) <= max(hd.MATRIX.values())


async def test_double_auction_matches_crossing_orders_and_refuses_bad_ones_privately(make_session, ws):
    session, ((group_pk, codes),) = make_session("double_auction", 4, period_length=3)
    b1, b2, s3, s4 = await _connect_all(ws, "double_auction", group_pk, codes)  # values 95, 85; costs 25, 35
    everyone = [b1, b2, s3, s4]

    async def reply(client, ref):
        return await client.recv_until(
            lambda m: m["channel"] in ("order_accepted", "order_rejected") and m["payload"].get("ref") == ref
        )

    await b1.send("bid", {"price": 50, "ref": 1})
    assert (await reply(b1, 1))["payload"]["status"] == "standing"
    await s3.send("ask", {"price": 60, "ref": 2})
    assert (await reply(s3, 2))["channel"] == "order_accepted"
    for c in everyone:
        book = await c.recv_until(lambda m: m["channel"] == "book" and m["payload"]["asks"])
        assert [o["price"] for o in book["payload"]["bids"]] == [50]
        assert [o["price"] for o in book["payload"]["asks"]] == [60]

    refused = {}
    for client, channel, payload, ref in [
        (b2, "bid", {"price": 100}, 3),       # above the value 85
        (s4, "ask", {"price": 20}, 4),        # below the cost 35
        (b2, "bid", {"price": "abc"}, 5),
        (s3, "bid", {"price": 40}, 6),        # a seller may not bid
        (b1, "cancel", {}, 7),                # fine: b1 has a bid standing
        (b1, "cancel", {}, 8),                # nothing left to cancel
    ]:
        await client.send(channel, dict(payload, ref=ref))
        msg = await reply(client, ref)
        refused[ref] = msg["payload"]["reason"] if msg["channel"] == "order_rejected" else None
    assert "more than your value" in refused[3]
    assert "less than your cost" in refused[4]
    assert "must be a number" in refused[5]
    assert "only buyers" in refused[6]
    assert refused[7] is None
    assert "no order" in refused[8]

    await b1.send("bid", {"price": 50, "ref": 9})
    await reply(b1, 9)
    await s4.send("ask", {"price": 45, "ref": 10})    # crosses the bid: trades at 50
    assert (await reply(s4, 10))["payload"]["status"] == "traded"
    await b2.send("bid", {"price": 70, "ref": 11})    # crosses the ask of 60
    assert (await reply(b2, 11))["payload"]["status"] == "traded"
    for c in everyone:
        def trades(c=c):
            return [(m["payload"]["price"], m["payload"]["buyer"], m["payload"]["seller"])
                    for m in c.received if m["channel"] == "trade"]
        while len(trades()) < 2:
            await c.recv()
        assert trades() == [(50, 1, 4), (60, 2, 3)]
    await _until_end(everyone)
    await s3.send("ask", {"price": 90, "ref": 12})
    assert "closed" in (await reply(s3, 12))["payload"]["reason"]

    # replies went to the trader only
    await asyncio.sleep(0.2)
    for i, c in enumerate(everyone):
        await c.drain(0.2)  # whatever is still on its way
        for m in c.received:
            if m["channel"] in ("order_accepted", "order_rejected"):
                assert m["payload"]["ref"] in {0: {1, 7, 8, 9}, 1: {3, 5, 11}, 2: {2, 6, 12}, 3: {4, 10}}[i]

    def players():
        from double_auction.models import Group

        group = Group.objects.get(pk=group_pk)
        return [(float(p.payoff), p.units_traded) for p in group.get_players()], group.book, group.trades

    result, book, trades = await _db(players)
    assert result == [(95 - 50, 1), (85 - 60, 1), (60 - 25, 1), (50 - 35, 1)]
    assert book["bids"] == [] and book["asks"] == []
    assert len(trades) == 2


# ------------------------------------------------------------ in a real browser



class Browser:
    """One Chromium, one context (own cookies) per participant."""

    def __init__(self, server):
        self.server = server
        self.errors = []

    async def __aenter__(self):
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        self.browser = await self._pw.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        return self

    async def __aexit__(self, *exc):
        await self.browser.close()
        await self._pw.stop()

    async def open(self, code):
        context = await self.browser.new_context()
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        await page.goto("%s/InitializeParticipant/%s" % (self.server.base, code))
        return page


def browser_test(fn):
    """e2e + browser markers (the Chromium of the CI image, as the other browser tests)."""
    return pytest.mark.e2e(pytest.mark.browser(fn))


async def _running(page):
    """Until the page shows a running period (``#status`` appears once the game page is loaded)."""
    try:
        await page.wait_for_function(
            "(function () { var s = document.getElementById('status');"
            " return !!s && (s.textContent.includes('running') || s.textContent.includes('open')); })()",
            timeout=15000)
    except Exception as exc:
        status = await page.evaluate("(document.getElementById('status') || {}).textContent || null")
        raise AssertionError("no running period on %s (status %r): %s" % (page.url, status, exc)) from None


async def _on_results(page, timeout=20000):
    await page.wait_for_url("**/Results/**", timeout=timeout)


async def _points(page, selector="#payoff"):
    """The number of a payoff as the page shows it ("149 points")."""
    return float((await page.text_content(selector)).split()[0])


@browser_test
@pytest.mark.parametrize("app", ["continuous_pd", "subperiod_pd"])
async def test_pd_pages_play_in_a_browser(app, make_session, server):
    session, ((group_pk, (a, b)),) = make_session(app, 2, period_length=4, num_subperiods=4)
    srv = server()
    async with Browser(srv) as br:
        pa, pb = await br.open(a), await br.open(b)
        await _running(pa)
        await _running(pb)
        await pa.click("#defect")
        if app == "continuous_pd":
            # the other page sees the move at once, and highlights the cell
            await pb.wait_for_function("document.getElementById('other').textContent === 'Defect'", timeout=5000)
            assert await pb.text_content("td.table-warning") == str(PD["cd"])
        else:
            # the move counts when the sub-period ends
            await pb.wait_for_function("document.getElementById('last-other').textContent === 'Defect'",
                                       timeout=5000)
            assert int(await pb.text_content("#subperiod")) >= 1
        for page in (pa, pb):
            await _on_results(page)
        pay_a, pay_b = await _points(pa), await _points(pb)
        assert pay_a > pay_b  # a defected against a cooperator
        assert br.errors == []


@browser_test
async def test_mean_matching_page_plays_in_a_browser(make_session, server):
    session, ((group_pk, codes),) = make_session("mean_matching", 4, period_length=4)
    srv = server()
    async with Browser(srv) as br:
        pages = [await br.open(c) for c in codes]
        for p in pages:
            await _running(p)
        # everyone else sees the mean move when one player moves the slider
        await pages[0].fill("#slider", "1")
        await pages[0].dispatch_event("#slider", "input")
        await pages[1].wait_for_function("document.getElementById('others').textContent === '67%'", timeout=5000)
        assert await pages[0].text_content("#mine") == "100%"
        for p in pages:
            await _on_results(p)
        assert await pages[0].text_content("#hawk") != "–"
        assert br.errors == []


@browser_test
async def test_double_auction_page_trades_in_a_browser(make_session, server):
    session, ((group_pk, codes),) = make_session("double_auction", 4, period_length=6)
    srv = server()
    async with Browser(srv) as br:
        b1, b2, s3, s4 = [await br.open(c) for c in codes]
        for p in (b1, b2, s3, s4):
            await _running(p)
        await b1.fill("#price", "50")
        await b1.click("#send")
        await s3.wait_for_function("document.querySelector('#bids li') && "
                                   "document.querySelector('#bids li').textContent === '50'", timeout=5000)
        # oTree.idInGroup is a string (as in 0.9.x); the page still knows its own order
        await b1.wait_for_function("document.querySelector('#bids li') && "
                                   "document.querySelector('#bids li').textContent === '50 (yours)'",
                                   timeout=15000)
        await b2.fill("#price", "150")  # above b2's value: refused, on b2's page only
        await b2.click("#send")
        await b2.wait_for_function("document.getElementById('message').textContent.startsWith('Refused')",
                                   timeout=5000)
        await s4.fill("#price", "45")
        await s4.click("#send")
        for p in (b1, b2, s3, s4):
            await p.wait_for_function("document.querySelector('#trades li') !== null", timeout=5000)
            assert (await p.text_content("#trades li")).startswith("50")
        assert [await p.text_content("#trades li") for p in (b1, b2, s3, s4)] == [
            "50 (yours)", "50", "50", "50 (yours)"]
        assert not (await b1.text_content("#message")).startswith("Refused")
        for p in (b1, b2, s3, s4):
            await _on_results(p)
        assert await _points(b1) == 95 - 50
        assert await _points(s4) == 50 - 35
        assert await _points(b2) == 0
        assert br.errors == []
