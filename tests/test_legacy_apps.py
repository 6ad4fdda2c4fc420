"""0.9.x apps run unchanged: the test apps of tests/legacy_apps on a real server.

Each app is written the way public otree-redwood 0.9.x experiments are (see
the docstrings of their models).  The tests open the participants' pages
over HTTP (as a browser does, which also proves the templates render), take
the socket token from the page, play a period over real WebSockets against
``otree prodserver`` with a real Redis, then run the apps' payoff code and
download their exports at the 0.9.x address.
"""
import asyncio
import csv
import http.cookiejar
import io
import json
import re
import time
import urllib.request

import pytest
import websockets

pytestmark = pytest.mark.e2e


def http_client():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))


def open_page(base, code):
    """The participant's current page, entered the way a browser does."""
    opener = http_client()
    with opener.open(base + "/InitializeParticipant/" + code, timeout=30) as resp:
        html = resp.read().decode("utf-8")
        assert resp.status == 200
    found = re.search(r"window\.oTree = (\{.*?\});</script>", html)
    assert found, "the page does not set window.oTree (otree_redwood/Page.html)"
    return json.loads(found.group(1))


class Participant:
    """One page's socket, with the URL and token the page itself renders."""

    def __init__(self, base, otree):
        self.otree = otree
        self.code = otree["participantCode"]
        self.url = "%s/redwood/app-name/%s/group/%s/participant/%s/?token=%s" % (
            base.replace("http://", "ws://"), otree["appName"], otree["group"]["pk"], self.code,
            otree["socketToken"])
        self.frames = []
        self.sock = None

    async def connect(self):
        self.sock = await websockets.connect(self.url, open_timeout=10)
        self.reader = asyncio.get_event_loop().create_task(self._read())
        return self

    async def _read(self):
        try:
            async for text in self.sock:
                self.frames.append(json.loads(text))
        except websockets.WebSocketException:
            pass

    async def send(self, channel, payload):
        await self.sock.send(json.dumps({"channel": channel, "payload": payload}))

    def on(self, channel):
        return [f for f in self.frames if f.get("channel") == channel]

    async def wait_for(self, pred, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for f in self.frames:
                if pred(f):
                    return f
            await asyncio.sleep(0.02)
        raise AssertionError("no matching frame; last frames: %r" % self.frames[-5:])

    async def close(self):
        await self.sock.close()
        self.reader.cancel()


def state_is(value):
    return lambda f: f.get("channel") == "state" and f.get("payload") == value


async def play_pair(server_proc, session):
    codes = [p.code for p in session.get_participants()]
    base = server_proc.base
    pages = [await asyncio.get_event_loop().run_in_executor(None, open_page, base, c) for c in codes]
    return [Participant(base, otree) for otree in pages]


def group_of(app_name, session):
    from django.apps import apps

    Group = apps.get_app_config(app_name).get_model("Group")
    return Group.objects.get(session=session)


def download(base, path):
    with http_client().open(base + path, timeout=30) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/csv")
        return list(csv.reader(io.StringIO(resp.read().decode("utf-8"))))


async def test_group_with_custom_channels_emitters_payoffs_and_old_export_url(server, make_session):
    proc = server()
    session, _ = make_session("legacy_channels", 2)
    a, b = await play_pair(proc, session)
    await a.connect()
    await b.connect()
    for p in (a, b):
        await p.wait_for(state_is("period_start"))

    # a handler that annotates event.value and sends it back out
    for _ in range(3):
        await a.send("click", {"n": 1})
    last = await b.wait_for(lambda f: f.get("channel") == "click" and f["payload"].get("count") == 3)
    assert last["payload"]["sender"] == a.code
    await b.send("chat", "hello")
    await a.wait_for(lambda f: f.get("channel") == "chat")

    for p in (a, b):
        await p.wait_for(state_is("period_end"), timeout=30)
    # the closure emitter (refresh_from_db + send) ticked 5 times, the bound one 3 times
    assert [f["payload"]["interval"] for f in a.on("tick")] == [0, 1, 2, 3, 4]
    assert all(f["payload"]["intervals"] == 5 for f in a.on("tick"))
    assert [f["payload"] for f in b.on("slow_tick")] == [0, 1, 2]
    assert [f["payload"]["count"] for f in b.on("click")] == [1, 2, 3]
    await a.close()
    await b.close()

    group = group_of("legacy_channels", session)
    assert group.ticks_sent == 5
    # the handlers' changes to event.value were saved on the stored events
    clicks = list(group.events.filter(channel="click", participant__code=a.code))
    assert [e.value["count"] for e in clicks] == [1, 2, 3]
    assert all(e.value["sender"] == a.code for e in clicks)
    chat = group.events.get(channel="chat", participant__code=b.code)
    assert chat.value == {"text": "hello", "from": b.code}

    # payoff code as 0.9.x apps write it
    players = {p.participant.code: p for p in group.get_players()}
    for p in players.values():
        p.set_payoff()
    assert (players[a.code].clicks, players[b.code].clicks) == (3, 0)
    assert float(players[a.code].payoff) == 3

    # views.py's output table at 0.9.x's address, and at ours
    old = await asyncio.get_event_loop().run_in_executor(None, download, proc.base, "/redwood_export_legacy_channels/")
    new = await asyncio.get_event_loop().run_in_executor(
        None, download, proc.base, "/redwood/export/app/legacy_channels/")
    assert old[0] == ["session", "group", "timestamp", "participant", "channel", "count"]
    mine = [row for row in old[1:] if row[0] == session.code]
    assert [row[5] for row in mine] == ["1", "2", "3"]
    assert old == new


async def test_decision_group_with_subperiods_and_rate_limit(server, make_session):
    proc = server()
    session, _ = make_session("legacy_subperiods", 2)
    a, b = await play_pair(proc, session)
    await a.connect()
    # a decision before the whole group is there is ignored, as in 0.9.x
    await a.send("decisions", 0.9)
    group = group_of("legacy_subperiods", session)
    deadline = time.time() + 20
    while not group.events.filter(channel="decisions").exists():
        assert time.time() < deadline, "the early decision was not stored"
        await asyncio.sleep(0.05)
    await b.connect()
    for p in (a, b):
        await p.wait_for(state_is("period_start"))
    await b.send("decisions", 0.3)
    for p in (a, b):
        await p.wait_for(state_is("period_end"), timeout=30)
    await a.close()
    await b.close()

    group = group_of("legacy_subperiods", session)
    events = group.get_group_decisions_events()
    # one map per sub-period, as 0.9.x stored them
    assert len(events) == 4
    assert all(e.value[a.code] == 0 for e in events)  # the early 0.9 never counted
    assert events[-1].value[b.code] == 0.3
    assert group.subperiod_group_decisions == events[-1].value
    assert group.group_decisions == events[-1].value
    assert group._group_decisions_updated is False
    early = group.events.filter(channel="decisions", participant__code=a.code)
    assert [e.value for e in early] == [0.9]  # stored, not applied
    for frame in a.on("group_decisions"):
        assert frame["payload"][a.code] == 0

    # the app's own _subperiod_tick ran at each sub-period end, after the map was stored
    assert group.ticks_seen == 4
    done = [f["payload"] for f in b.on("subperiod_done")]
    assert [(d["interval"], d["intervals"]) for d in done] == [(0, 4), (1, 4), (2, 4), (3, 4)]
    assert [d["map"] for d in done] == [e.value for e in events]

    players = {p.participant.code: p for p in group.get_players()}
    for p in players.values():
        p.set_payoff()
    assert players[a.code].subperiods_seen == 4
    assert float(players[a.code].payoff) == 0
