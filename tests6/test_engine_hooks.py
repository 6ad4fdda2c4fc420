"""The 0.9.x hooks and methods on oTree 6: handlers, send/send_to, sub-periods, rate limits.

Real `otree prodserver`, real Redis, `websockets` clients with the tokens of
the rendered pages (helpers of test_engine_e2e).  Three apps:

- rt_chat (single-file, Group): module-level ``_on_chat_event(group, event)``
  that broadcasts with ``send`` and answers the sender alone with
  ``send_to``, reading ``events`` and ``get_start_time()``;
- rt_sub (models.py format, DecisionGroup): ``num_subperiods`` as a method;
- rt_rate (single-file, DecisionGroup): module-level ``rate_limit``;
- rt_emit (single-file, Group): a ``DiscreteEventEmitter`` on a method of
  the group, started in ``when_all_players_ready``, as 0.9.x apps do.
"""
import asyncio
import json
import shutil
import textwrap
import urllib.request

import pytest

from conftest import Server, otree_env, otree_json, resetdb, run_otree, settings_py
from test_engine_e2e import Client, _pages, _rows, _state, redis_url  # noqa: F401  (redis_url: a fixture)

SETTINGS = settings_py('''[
    dict(name="rt_chat", app_sequence=["rt_chat"], num_demo_participants=2),
    dict(name="rt_sub", app_sequence=["rt_sub"], num_demo_participants=2),
    dict(name="rt_rate", app_sequence=["rt_rate"], num_demo_participants=2),
    dict(name="rt_emit", app_sequence=["rt_emit"], num_demo_participants=2),
]''', "tests6-hooks-secret", admin_password=None)

HEAD = '''
from otree.api import *

from otree_redwood.otree6.bases import DecisionGroup, Group as RedwoodGroup


class C(BaseConstants):
    NAME_IN_URL = "{name}"
    PLAYERS_PER_GROUP = 2
    NUM_ROUNDS = 1


class Subsession(BaseSubsession):
    pass


class Player(BasePlayer):
    pass


class Decision(Page):
    pass


page_sequence = [Decision]
'''

CHAT = HEAD.format(name="rt_chat").replace("""class Decision(Page):
    pass


page_sequence = [Decision]""", """class Decision(Page):
    @staticmethod
    def before_next_page(player, timeout_happened):
        # app code in oTree's own request: published after oTree commits
        player.group.send("page_note", player.participant.code)


class After(Page):
    pass


page_sequence = [Decision, After]""") + '''

class Group(RedwoodGroup):
    pass


def when_player_disconnects(group, player):
    group.send("left", player.participant.code)


def _on_chat_event(group, event):
    group.send("chat_echo", {"from": event.participant.code, "text": event.value})
    started = group.get_start_time()
    group.send_to(event.participant, "private", {
        "stored": [e.channel for e in group.events],
        # 0.9.x payoff code reads the sender of a stored event this way
        "senders": [e.participant.code if e.participant_id is not None else None for e in group.events],
        "started": started.isoformat() if started is not None else None,
        "ended": group.get_end_time(),
    })
'''

RATE = HEAD.format(name="rt_rate") + '''

class Group(DecisionGroup):
    pass


def period_length(group):
    return 6


def rate_limit(group):
    return 1.0
'''

SUB_MODELS = '''
from otree.api import BaseConstants, BaseSubsession, BasePlayer

from otree_redwood.otree6.bases import DecisionGroup


class Constants(BaseConstants):
    name_in_url = "rt_sub"
    players_per_group = 2
    num_rounds = 1


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    def period_length(self):
        return 3

    def num_subperiods(self):
        return 3


class Player(BasePlayer):
    def initial_decision(self):
        return 1
'''

SUB_PAGES = '''
from otree.api import Page


class Decision(Page):
    pass


page_sequence = [Decision]
'''

EMIT = HEAD.format(name="rt_emit") + '''

from otree_redwood.utils import DiscreteEventEmitter


class Group(RedwoodGroup):
    def period_length(self):
        return 3

    def when_all_players_ready(self):
        DiscreteEventEmitter(0.5, 3, self, self.tick).start()

    def tick(self, current_interval, intervals):
        self.send("tick", [current_interval, intervals])
'''

TEMPLATE = '''{% extends "otree_redwood/Page.html" %}
{% block content %}<p>x</p>{% endblock %}
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_url):  # noqa: F811
    root = tmp_path_factory.mktemp("otree6h")
    r = run_otree(root, "startproject", "proj", env=otree_env(root), input="n\n")
    assert r.returncode == 0, r.stdout + r.stderr
    proj = root / "proj"
    files = {
        "settings.py": SETTINGS,
        "rt_chat/__init__.py": CHAT, "rt_chat/Decision.html": TEMPLATE, "rt_chat/After.html": TEMPLATE,
        "rt_rate/__init__.py": RATE, "rt_rate/Decision.html": TEMPLATE,
        "rt_emit/__init__.py": EMIT, "rt_emit/Decision.html": TEMPLATE,
        "rt_sub/__init__.py": "", "rt_sub/models.py": SUB_MODELS, "rt_sub/pages.py": SUB_PAGES,
        "rt_sub/templates/rt_sub/Decision.html": TEMPLATE,
    }
    for name, text in files.items():
        path = proj / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    env = otree_env(proj, REDWOOD_REDIS_URL=redis_url)
    resetdb(proj, env=env)
    s = Server(proj, "prodserver", env=env)
    yield s
    s.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_module_level_handler_broadcasts_and_answers_the_sender_alone(server):
    objs = _pages(server, "rt_chat")

    async def go():
        a, b = [await Client.open(server, o) for o in objs]
        for c in (a, b):
            await c.wait_for(_state("period_start"), "period_start")
        await a.send("chat", "hello")
        echoes = [await c.wait_for(lambda f: f["channel"] == "chat_echo", "the echo") for c in (a, b)]
        private = await a.wait_for(lambda f: f["channel"] == "private", "the private answer")
        # B must never see A's private message: a ping sent after it comes back first
        await b.ws.send(json.dumps({"channel": "ping", "timestamp": 1}))
        await b.wait_for(lambda f: f["channel"] == "ping", "B's ping reply")
        b_channels = [f["channel"] for f in b.frames]
        for c in (a, b):
            await c.ws.close()
        return echoes, private, b_channels

    echoes, private, b_channels = asyncio.run(go())
    code_a = objs[0]["participantCode"]
    assert echoes[0]["payload"] == echoes[1]["payload"] == {"from": code_a, "text": "hello"}
    assert echoes[0]["seq"] == echoes[1]["seq"]
    assert private["seq"] > echoes[0]["seq"]
    # what the handler read: its own inbound event and the echo are stored already
    assert private["payload"]["stored"] == ["state", "chat", "chat_echo"]
    assert private["payload"]["senders"] == [None, code_a, None]
    assert private["payload"]["started"] is not None and private["payload"]["ended"] is None
    assert "private" not in b_channels
    rows = _rows(server.project / "db.sqlite3",
                 "select channel, recipient_id is not null from otree_redwood_event "
                 "where app_name = 'rt_chat' and group_pk = ? order by id", (objs[0]["group"]["pk"],))
    assert rows == [("state", 0), ("chat", 0), ("chat_echo", 0), ("private", 1)]


def test_subperiods_send_one_map_per_subperiod_and_fill_subperiod_group_decisions(server):
    objs = _pages(server, "rt_sub")

    async def go():
        a, b = [await Client.open(server, o) for o in objs]
        await a.wait_for(_state("period_start"), "period_start")
        await a.send("decisions", 7)
        await a.wait_for(_state("period_end"), "period_end")
        await b.wait_for(_state("period_end"), "period_end")
        for c in (a, b):
            await c.ws.close()
        return a.frames

    frames = asyncio.run(go())
    code_a, code_b = objs[0]["participantCode"], objs[1]["participantCode"]
    maps = {f["seq"]: f["payload"] for f in frames if f["channel"] == "group_decisions"}
    assert len(maps) == 3  # no map at the start with sub-periods, one per sub-period end
    assert list(maps.values())[-1] == {code_a: 7, code_b: 1}
    (sub,), = _rows(server.project / "db.sqlite3", "select subperiod_group_decisions from rt_sub_group where id = ?",
                    (objs[0]["group"]["pk"],))
    assert json.loads(sub) == {code_a: 7, code_b: 1}


def test_rate_limit_sends_fewer_maps_than_decisions_and_the_last_map_has_the_last_decision(server):
    objs = _pages(server, "rt_rate")

    async def go():
        a, b = [await Client.open(server, o) for o in objs]
        await a.wait_for(_state("period_start"), "period_start")
        for v in range(20):
            await a.send("decisions", v)
        await a.wait_for(_state("period_end"), "period_end")
        for c in (a, b):
            await c.ws.close()
        return a.frames

    frames = asyncio.run(go())
    code_a = objs[0]["participantCode"]
    maps = sorted((f["seq"], f["payload"]) for f in frames if f["channel"] == "group_decisions")
    seqs = [s for s, _ in maps]
    assert len(set(seqs)) < 20
    assert maps[-1][1][code_a] == 19
    rows = _rows(server.project / "db.sqlite3",
                 "select count(*) from otree_redwood_event where app_name = 'rt_rate' and channel = 'decisions'")
    assert rows == [(20,)]


def test_send_from_a_page_and_resync_of_a_socket_that_missed_it(server):
    _, codes = server.create_session("rt_chat")
    page_urls, objs = [], []
    for code in codes:
        with urllib.request.urlopen(server.base + "/InitializeParticipant/%s" % code, timeout=60) as r:
            page_urls.append(r.geturl())
            objs.append(otree_json(r.read().decode()))

    async def go():
        a, b = [await Client.open(server, o) for o in objs]
        start = await b.wait_for(_state("period_start"), "period_start")
        await b.ws.close()
        left = await a.wait_for(lambda f: f["channel"] == "left", "when_player_disconnects' message")
        assert left["payload"] == objs[1]["participantCode"]
        # A leaves the page: before_next_page sends on the group
        req = urllib.request.Request(page_urls[0], data=b"", method="POST")
        await asyncio.get_running_loop().run_in_executor(None, lambda: urllib.request.urlopen(req, timeout=120).read())
        note = await a.wait_for(lambda f: f["channel"] == "page_note", "the page's message")
        # B comes back with the last seq it saw: it gets what it missed
        b2 = await Client.open(server, objs[1], seq=start["seq"])
        missed = await b2.wait_for(lambda f: f["channel"] == "page_note", "the missed message")
        for c in (a, b2):
            await c.ws.close()
        return note, missed

    note, missed = asyncio.run(go())
    assert note["payload"] == objs[0]["participantCode"]
    assert missed["seq"] == note["seq"] and missed["payload"] == note["payload"]


def test_an_emitter_on_a_group_method_ticks_each_interval_once(server):
    objs = _pages(server, "rt_emit")

    async def go():
        clients = [await Client.open(server, o) for o in objs]
        for c in clients:
            await c.wait_for(_state("period_end"), "period_end")
        for c in clients:
            await c.ws.close()
        return [[f["payload"] for f in c.frames if f["channel"] == "tick"] for c in clients]

    seen = asyncio.run(go())
    # 3 s / 0.5 s: ticks 0, 1, ... of 6, in order, once each, the same to both
    # members; the last is due just after the period end (the emitter starts
    # a moment after the period), which cancels it with the group's timers
    assert seen[0] == seen[1]
    assert seen[0] in ([[k, 6.0] for k in range(5)], [[k, 6.0] for k in range(6)])
    # a method of the group had its record in the database (what re-arms it
    # after a Redis loss), removed with the timers at the period end
    assert _rows(server.project / "db.sqlite3", "select count(*) from otree_redwood_emitterrecord") == [(0,)]
