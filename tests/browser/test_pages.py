"""The decision_demo pages played in Chromium against a real server process.

Each test has its own session, server and browser contexts (one per
participant).  The Decide page: a range input #slider, #mine, #other,
#status, <redwood-decision id="decision">, <redwood-period>.
"""
import os

import pytest

from tests import harness

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

APP = "decision_demo"
SCREENSHOT = os.path.join(harness.ROOT, "docs", "_static", "demo.png")


def _two(make_session, server, players, period_length=60, config=None, **server_kw):
    """A fresh 2-player session, its server, and both participants on Decide."""
    session, ((group_pk, (a, b)),) = make_session(APP, 2, period_length=period_length, **(config or {}))
    srv = server(**server_kw)
    pa, pb = players.open(srv, a), players.open(srv, b)
    return srv, pa, pb


def _events(player, name, path_part="/Decide/"):
    return [e for e in player.log() if e["name"] == name and path_part in e["path"]]


def _leave_delay(player):
    """Seconds from period-end on Decide to the navigation start of Results."""
    log = player.log()
    end = [e["t"] for e in log if e["name"] == "period-end"]
    results = [e["t"] for e in log if e["name"] == "load" and "/Results/" in e["path"]]
    assert end and results, log
    return (results[0] - end[-1]) / 1000.0


def test_two_players_see_each_others_decisions(make_session, server, players):
    srv, pa, pb = _two(make_session, server, players)
    for p in (pa, pb):
        p.wait_running()
        assert p.page.text_content("#status") == "The period is running."
        assert p.decision("myDecision") == 0.5  # initial-decision, not yet sent
    pb.slide(0.8)
    pa.wait_other(0.8)
    pa.slide(0.2)
    pb.wait_other(0.2)
    both = {pa.code: 0.2, pb.code: 0.8}
    for p in (pa, pb):
        p.wait_group(both)
        assert p.decision("myCurrentDecision") == both[p.code]
        assert p.decision("myDecision") == both[p.code]
    # what a participant reads on the page (a's page refreshed after b's move:
    # see test_other_decision_is_fresh_in_group_decisions_changed)
    assert pa.page.text_content("#mine") == "0.2"
    assert pb.page.text_content("#mine") == "0.8"
    assert pa.page.text_content("#other") == "0.8"
    # the docs' screenshot: refreshed when missing or with REDWOOD_UPDATE_SCREENSHOT=1
    # (not on every run, so that running the tests leaves the checkout clean)
    if os.environ.get("REDWOOD_UPDATE_SCREENSHOT") == "1" or not os.path.exists(SCREENSHOT):
        pa.js("() => document.activeElement && document.activeElement.blur()")
        pa.page.set_viewport_size({"width": 720, "height": 270})
        pa.page.screenshot(path=SCREENSHOT)
    assert pa.errors == [] and pb.errors == []


def test_other_decision_is_fresh_in_group_decisions_changed(make_session, server, players):
    srv, pa, pb = _two(make_session, server, players)
    pa.wait_running()
    pb.wait_running()
    # a 0.9.x page reads otherDecision in its group-decisions-changed listener
    pa.js("""() => {
        const d = document.getElementById('decision');
        window.seen = [];
        d.addEventListener('group-decisions-changed', (e) => {
            const other = Object.keys(e.detail.value).filter((k) => k !== oTree.participantCode)[0];
            window.seen.push([d.otherDecision, e.detail.value[other]]);
        });
    }""")
    pb.slide(0.8)
    pa.wait_other(0.8)
    seen = pa.js("() => window.seen")
    assert seen and all(mine == theirs for mine, theirs in seen), seen
    assert pa.page.text_content("#other") == "0.8"


def test_slider_move_reaches_the_other_page_within_a_second(make_session, server, players):
    srv, pa, pb = _two(make_session, server, players)
    pa.wait_running()
    pb.wait_running()
    # a: when the slider fires `input` (capturing listener, before the page's);
    # b: when its <redwood-decision> has the new otherDecision
    pa.js("() => { window.sentAt = {};"
          " document.addEventListener('input', (e) => { window.sentAt[e.target.value] = Date.now(); }, true); }")
    pb.js("() => { window.seenAt = {}; const d = document.getElementById('decision');"
          " d.addEventListener('other-decision-changed', (e) => {"
          "   window.seenAt[String(e.detail.value)] = Date.now(); }); }")
    latencies = []
    for value in ("0.11", "0.42", "0.77", "0.93", "0.3"):
        pa.slide(value)
        pb.wait("(v) => window.seenAt[v] !== undefined", arg=str(float(value)), timeout=5000)
        sent = pa.js("(v) => window.sentAt[v]", value)
        seen = pb.js("(v) => window.seenAt[v]", str(float(value)))
        latencies.append((seen - sent) / 1000.0)
    print("slider -> other page latencies (s):", latencies)
    assert max(latencies) < 1.0, latencies
    assert pb.decision("otherDecision") == 0.3
    assert pa.errors == [] and pb.errors == []


def test_period_end_moves_both_pages_to_results(make_session, server, players):
    srv, pa, pb = _two(make_session, server, players, period_length=4)
    pa.wait_running()
    pb.wait_running()
    pa.slide(0.25)
    pb.wait_other(0.25)
    for p in (pa, pb):
        p.wait_results(timeout=15000)
    for p in (pa, pb):
        start, end = _events(p, "period-start"), _events(p, "period-end")
        assert len(start) == 1 and len(end) == 1, p.log()
        # the page saw the period start, then end, and left it after
        # postRoundDelay (1 s), never before (how late depends on the load)
        assert end[0]["t"] > start[0]["t"], p.log()
        assert _leave_delay(p) >= 0.8, p.log()
    # the decision made on the page is the group's final one
    text = pa.page.text_content("body")
    assert pa.code in text and "0.25" in text
    assert pa.errors == [] and pb.errors == []


def test_dropped_connection_reconnects_to_the_group_state(make_session, server, players):
    srv, pa, pb = _two(make_session, server, players)
    pa.wait_running()
    pb.wait_running()
    pb.slide(0.6)
    pa.wait_other(0.6)
    # a's network goes down; the socket notices (closed from the page: an
    # offline context does not always close an open WebSocket at once)
    pa.context.set_offline(True)
    pa.js("() => window.redwoodSocket._ws && window.redwoodSocket._ws.close()")
    pa.wait("() => !window.redwoodSocket.connected")
    # meanwhile b moves twice, and a moves (queued until it is back)
    pb.slide(0.9)
    pb.slide(0.7)
    pa.slide(0.1)
    pa.page.wait_for_timeout(1200)
    assert pa.decision("otherDecision") == 0.6  # a heard nothing while offline
    assert pb.decision("otherDecision") == 0.5  # ... and sent nothing
    pa.context.set_offline(False)
    pa.wait_connected(timeout=15000)
    pa.wait_other(0.7)
    pb.wait_other(0.1)
    group = {pa.code: 0.1, pb.code: 0.7}
    for p in (pa, pb):
        p.wait_group(group)
        assert p.decision("groupDecisions") == group
    assert pa.decision("myCurrentDecision") == 0.1
    assert pa.js("() => window.redwoodSocket.connectCount") >= 2
    assert pa.js("() => document.querySelector('redwood-period').running") is True
    assert pa.page_errors == [] and pb.errors == []


def _inject_bot(player, active=False):
    """A <redwood-decision-bot> added as a page author writes it: a pattern, 5 moves/s."""
    player.js("""(active) => {
        const bot = document.createElement('redwood-decision-bot');
        bot.id = 'bot';
        bot.setAttribute('lambda', '5');
        bot.setAttribute('pattern', '[0.1, 0.9]');
        if (active) bot.setAttribute('active', '');
        document.body.appendChild(bot);
    }""", active)


def _record_others(player):
    player.wait_other(0.5)  # the other's initial decision, in the first group_decisions
    player.js("() => { window.others = [];"
              " document.getElementById('decision').addEventListener('other-decision-changed',"
              " (e) => window.others.push(e.detail.value)); }")


@pytest.mark.parametrize("mode", ["debug", "active"])
def test_decision_bot_plays_a_period(mode, make_session, server, players):
    """debug: oTree.debug (the demo runs with DEBUG) starts a bot by itself;
    active: without oTree.debug, only the `active` attribute does."""
    srv, pa, pb = _two(make_session, server, players, period_length=5)
    assert pa.js("() => oTree.debug") is True
    pa.wait_running()
    pb.wait_running()
    _record_others(pb)
    if mode == "active":
        pa.js("() => { oTree.debug = false; }")
    _inject_bot(pa)
    if mode == "active":
        pa.page.wait_for_timeout(800)
        assert pb.js("() => window.others") == []  # neither debug nor active: idle
        pa.js("() => document.getElementById('bot').setAttribute('active', '')")
    pb.wait("() => window.others.length >= 3", timeout=5000)
    others = pb.js("() => window.others")
    assert set(others) <= {0.1, 0.9} and len(set(others)) == 2, others
    assert pa.decision("myDecision") in (0.1, 0.9)
    for p in (pa, pb):
        p.wait_results(timeout=15000)
    assert len(_events(pa, "period-end")) == 1
    assert pa.errors == [] and pb.errors == []


def test_production_page_loads_each_component_once_and_bot_plays(make_session, server, players):
    srv, pa, pb = _two(make_session, server, players, period_length=6,
                       extra_env={"OTREE_PRODUCTION": "1"})
    assert pa.js("() => oTree.debug") is False
    pa.wait_running()
    pb.wait_running()
    _record_others(pb)
    _inject_bot(pa, active=True)
    modules = pa.js("() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)"
                    ".filter((p) => p.includes('/otree-redwood/src/'))")
    # one URL per module file, hashed (name.0123abcd.js) or not
    files = [m.rsplit("/", 1)[0] + "/" + m.rsplit("/", 1)[1].split(".")[0] for m in modules]
    twice = sorted(m for m in modules if files.count(m.rsplit("/", 1)[0] + "/" + m.rsplit("/", 1)[1].split(".")[0]) > 1)
    assert twice == [], "modules evaluated twice, hashed and plain: %s" % twice
    pb.page.wait_for_timeout(2500)  # a's bot moves 5 times a second
    assert len(pb.js("() => window.others")) >= 2
def test_page_reloaded_after_the_period_ended_advances_at_once(make_session, server, players):
    # a post-round delay of 8 s tells "at once" from "after the delay"
    srv, pa, pb = _two(make_session, server, players, period_length=3, config={"post_round_delay": 8})
    pa.wait_running()
    pb.wait_running()
    # b's page stays when the period ends (period-end is cancelable) ...
    pb.js("() => document.addEventListener('period-end', (e) => e.preventDefault(), true)")
    pa.wait_results(timeout=60000)
    pb.wait("() => document.querySelector('redwood-period').running === false")
    pb.page.wait_for_timeout(1500)
    assert "/Decide/" in pb.page.url
    # ... until it is reloaded: it leaves at once, not after postRoundDelay
    pb.page.reload()
    pb.wait_results(timeout=15000)
    decide_loads = [e for e in pb.log() if e["name"] == "load" and "/Decide/" in e["path"]]
    assert len(decide_loads) == 2
    assert len(_events(pb, "period-start")) == 1  # the reloaded page never ran the period
    assert _leave_delay(pb) < 4, pb.log()
    assert pa.errors == [] and pb.errors == []
