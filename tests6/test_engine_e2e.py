"""The engine on oTree 6, end to end: real `otree` servers, a real Redis, real sockets.

A project made by `otree startproject` with two DecisionGroup apps built on
otree_redwood.otree6.bases, one per app format (single-file with
module-level hooks; models.py/pages.py with method hooks).  Two participants
open their pages, take `window.oTree.socketToken` from them, and connect
with the `websockets` client.  No wall-clock bound: every wait is for a
condition, with a generous timeout for a loaded machine.
"""
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import textwrap
import time

import pytest
import websockets

from conftest import OTREE, Server, free_port, otree_env, otree_json, resetdb, run_otree, settings_py

WAIT = 120  # seconds for any one expected frame (a loaded 2-core machine)

SETTINGS = settings_py('''[
    dict(name="rt_dec", app_sequence=["rt_dec"], num_demo_participants=2),
    dict(name="rt_dec_classic", app_sequence=["rt_dec_classic"], num_demo_participants=2),
    dict(name="rt_dec_long", app_sequence=["rt_dec"], num_demo_participants=2, period_length=20),
]''', "tests6-engine-secret")

SINGLE = '''
from otree.api import *

from otree_redwood.otree6.bases import DecisionGroup

doc = "DecisionGroup, single-file format, module-level hooks"


class C(BaseConstants):
    NAME_IN_URL = "rt_dec"
    PLAYERS_PER_GROUP = 2
    NUM_ROUNDS = 1


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    pass


class Player(BasePlayer):
    pass


def period_length(group):
    # a query in a hook (as is_bot_session's): SQLAlchemy flushes the group
    # first, and the initial map must still reach the live state
    group.session.get_participants()
    return group.session.config.get("period_length", 3)


def initial_decision(player):
    return 0.25


class Decision(Page):
    pass


page_sequence = [Decision]
'''

CLASSIC_MODELS = '''
from otree.api import BaseConstants, BaseSubsession, BasePlayer

from otree_redwood.otree6.bases import DecisionGroup


class Constants(BaseConstants):
    name_in_url = "rt_dec_classic"
    players_per_group = 2
    num_rounds = 1


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    def period_length(self):
        return 3


class Player(BasePlayer):
    def initial_decision(self):
        return 0.25
'''

CLASSIC_PAGES = '''
from otree.api import Page


class Decision(Page):
    pass


page_sequence = [Decision]
'''

TEMPLATE = '''{% extends "otree_redwood/Page.html" %}
{% block title %}Decision{% endblock %}
{% block content %}<p>decide</p>{{ next_button }}{% endblock %}
'''


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + WAIT
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError("redis-server did not start")
            time.sleep(0.1)
    yield "redis://127.0.0.1:%d/0" % port
    proc.terminate()
    proc.wait(60)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("otree6e")
    r = run_otree(root, "startproject", "proj", env=otree_env(root), input="n\n")
    assert r.returncode == 0, r.stdout + r.stderr
    proj = root / "proj"
    files = {
        "settings.py": SETTINGS,
        "rt_dec/__init__.py": SINGLE,
        "rt_dec/Decision.html": TEMPLATE,
        "rt_dec_classic/__init__.py": "",
        "rt_dec_classic/models.py": CLASSIC_MODELS,
        "rt_dec_classic/pages.py": CLASSIC_PAGES,
        "rt_dec_classic/templates/rt_dec_classic/Decision.html": TEMPLATE,
    }
    for name, text in files.items():
        path = proj / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return proj


@pytest.fixture
def server_for(project, redis_url, tmp_path):
    started = []

    def start(kind):
        dest = tmp_path / kind
        shutil.copytree(project, dest)
        env = otree_env(dest, REDWOOD_REDIS_URL=redis_url)
        if kind == "prodserver":
            # (devserver starts from an empty in-memory database; a file
            # resetdb made lacks the user_version devserver wants)
            resetdb(dest, env=env)
        server = Server(dest, kind, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class Client:
    """One participant's socket, with every frame it received kept in order."""

    def __init__(self, ws):
        self.ws = ws
        self.frames = []

    @classmethod
    async def open(cls, server, otree, token=None, app=None, group=None, code=None, seq=None):
        url = "ws://127.0.0.1:%d/redwood/app-name/%s/group/%s/participant/%s/?token=%s" % (
            server.port, app or otree["appName"], group or otree["group"]["pk"],
            code or otree["participantCode"], token if token is not None else otree["socketToken"])
        if seq is not None:
            url += "&seq=%d" % seq
        return cls(await websockets.connect(url, open_timeout=WAIT))

    async def wait_for(self, pred, what):
        for f in self.frames:
            if pred(f):
                return f
        while True:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), WAIT)
            except asyncio.TimeoutError:
                raise AssertionError("no %s within %ss; got %r" % (what, WAIT, self.frames))
            f = json.loads(raw)
            self.frames.append(f)
            if pred(f):
                return f

    async def send(self, channel, payload):
        await self.ws.send(json.dumps({"channel": channel, "payload": payload}))


def _state(value):
    return lambda f: f["channel"] == "state" and f["payload"] == value


def _rows(db_path, sql, args=()):
    con = sqlite3.connect(str(db_path), timeout=60)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def _eventually(check, what):
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, "not seen within %ss: %s" % (WAIT, what)
        time.sleep(0.1)


def _pages(server, config):
    _, codes = server.create_session(config)
    return [otree_json(server.page(code)) for code in codes]


async def _play(server, objs):
    a, b = [await Client.open(server, o) for o in objs]
    code_a, code_b = objs[0]["participantCode"], objs[1]["participantCode"]
    for c in (a, b):
        await c.wait_for(_state("period_start"), "period_start")
        first = await c.wait_for(lambda f: f["channel"] == "group_decisions", "the initial map")
        assert first["payload"] == {code_a: 0.25, code_b: 0.25}
    await a.send("decisions", 0.75)
    got = []
    for c in (a, b):
        f = await c.wait_for(lambda f: f["channel"] == "group_decisions" and f["payload"].get(code_a) == 0.75,
                             "the map with A's decision")
        assert f["payload"] == {code_a: 0.75, code_b: 0.25}
        assert isinstance(f["seq"], int)
        got.append(f["seq"])
    assert got[0] == got[1]  # one broadcast, the same seq for both
    ends = [await c.wait_for(_state("period_end"), "period_end") for c in (a, b)]
    assert ends[0]["seq"] == ends[1]["seq"] > got[0]
    for c in (a, b):
        await c.ws.close()
    return code_a, got[0], ends[0]["seq"]


@pytest.mark.parametrize("config", ["rt_dec", "rt_dec_classic"])
def test_prodserver_two_sockets_play_a_period_and_every_event_is_stored(server_for, config):
    server = server_for("prodserver")
    objs = _pages(server, config)
    code_a, map_seq, end_seq = asyncio.run(_play(server, objs))
    db = server.project / "db.sqlite3"
    rows = _rows(db, "select e.channel, e.value, e.seq, p.code from otree_redwood_event e "
                     "left join otree_participant p on p.id = e.participant_id "
                     "where e.app_name = ? and e.group_pk = ? order by e.timestamp, e.id",
                 (config, objs[0]["group"]["pk"]))
    channels = [r[0] for r in rows]
    assert channels[0] == "state" and json.loads(rows[0][1]) == "period_start"
    assert ("decisions", "0.75", None, code_a) in rows
    assert [r[2] for r in rows if r[0] == "group_decisions" and json.loads(r[1]).get(code_a) == 0.75] == [map_seq]
    assert rows[-1][:3] == ("state", '"period_end"', end_seq)
    (started, decisions), = _rows(db, "select ran_ready_function, group_decisions from %s_group where id = ?"
                                  % config, (objs[0]["group"]["pk"],))
    assert started is not None
    assert json.loads(decisions)[code_a] == 0.75
    # the last sockets closed: their connection records go (after the close, not with it)
    _eventually(lambda: _rows(db, "select count(*) from otree_redwood_connection") == [(0,)],
                "the connection records removed")


def test_devserver_in_memory_database_keeps_the_events_on_stop(server_for):
    server = server_for("devserver")
    objs = _pages(server, "rt_dec")
    code_a, map_seq, end_seq = asyncio.run(_play(server, objs))
    server.stop()  # SIGINT: oTree saves its in-memory database to db.sqlite3
    rows = _rows(server.project / "db.sqlite3",
                 "select channel, seq from otree_redwood_event where app_name = 'rt_dec' order by timestamp, id")
    assert ("group_decisions", map_seq) in rows
    assert rows[-1] == ("state", end_seq)
    assert sum(1 for r in rows if r[0] == "decisions") == 1


async def _refused(server, otree, **kw):
    c = await Client.open(server, otree, **kw)
    frame = json.loads(await asyncio.wait_for(c.ws.recv(), WAIT))
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(c.ws.recv(), WAIT)
    return frame, c.ws.close_code


def test_refused_sockets_get_the_reason_and_the_oTree_3_close_codes(server_for):
    server = server_for("prodserver")
    a, b = _pages(server, "rt_dec")

    async def go():
        out = {}
        out["other"] = await _refused(server, a, token=b["socketToken"])
        out["none"] = await _refused(server, a, token="")
        out["group"] = await _refused(server, a, group="x1")
        out["app"] = await _refused(server, a, app="no_such_app")
        return out

    out = asyncio.run(go())
    for name, (frame, code) in out.items():
        assert frame["channel"] == "error", name
        assert frame["payload"]["close_code"] == code, name
    assert out["other"][1] == out["none"][1] == 4003
    assert out["group"][1] == 4000
    assert out["app"][1] == 4004


def test_bad_frames_are_answered_with_errors_and_the_socket_stays_usable(server_for):
    server = server_for("prodserver")
    objs = _pages(server, "rt_dec")

    async def go():
        a = await Client.open(server, objs[0])
        await a.ws.send("{not json")
        await a.ws.send(json.dumps({"channel": "state", "payload": "period_end"}))
        await a.ws.send(b"\x00binary")
        await a.ws.send(json.dumps({"channel": "ping", "timestamp": 12.5}))
        pong = await a.wait_for(lambda f: f["channel"] == "ping", "the ping reply")
        errors = [f for f in a.frames if f["channel"] == "error"]
        await a.ws.close()
        return pong, errors

    pong, errors = asyncio.run(go())
    assert pong["timestamp"] == 12.5 and isinstance(pong["server_ts"], float)
    reasons = " | ".join(e["payload"]["reason"] for e in errors)
    assert len(errors) == 3, reasons
    assert "reserved for the server" in reasons and "binary" in reasons


def test_simultaneous_connects_start_the_period_exactly_once(server_for):
    server = server_for("prodserver")
    groups = [_pages(server, "rt_dec") for _ in range(3)]

    async def go():
        clients = await asyncio.gather(*[Client.open(server, o) for objs in groups for o in objs])
        for c in clients:
            await c.wait_for(_state("period_start"), "period_start")
        for c in clients:
            await c.ws.close()

    asyncio.run(go())
    for objs in groups:
        rows = _rows(server.project / "db.sqlite3",
                     "select count(*) from otree_redwood_event where app_name = 'rt_dec' and group_pk = ? "
                     "and channel = 'state' and value = '\"period_start\"'", (objs[0]["group"]["pk"],))
        assert rows == [(1,)]


def test_period_end_is_stored_after_the_server_was_killed_and_restarted(server_for):
    server = server_for("prodserver")
    objs = _pages(server, "rt_dec_long")

    async def start():
        clients = [await Client.open(server, o) for o in objs]
        for c in clients:
            await c.wait_for(_state("period_start"), "period_start")

    asyncio.run(start())
    os.killpg(server.proc.pid, signal.SIGKILL)  # no shutdown handler runs
    server.proc.wait(60)
    server.stop()
    db = server.project / "db.sqlite3"
    ended = "select count(*) from otree_redwood_event where app_name = 'rt_dec' and channel = 'state' " \
            "and value = '\"period_end\"'"
    if _rows(db, ended) != [(0,)]:
        pytest.skip("the killed server had ended the 20 s period already (a very slow machine)")
    again = Server(server.project, "prodserver", env=server.env)
    try:
        # no socket connects: the timer in Redis ends the period on its own
        _eventually(lambda: _rows(db, ended) == [(1,)], "period_end stored by the restarted server")
    finally:
        again.stop()


def test_a_setting_oTree_6_cannot_honour_stops_the_server_with_the_reason(project, redis_url, tmp_path):
    dest = tmp_path / "bind"
    shutil.copytree(project, dest)
    env = otree_env(dest, REDWOOD_REDIS_URL=redis_url, REDWOOD_BIND_PARTICIPANT_TO_BROWSER="1")
    resetdb(dest, env=env)
    log = dest / "prodserver.log"
    with open(log, "w") as out:
        # own session: prodserver's timeout worker outlives a failed start-up (design note, R6)
        proc = subprocess.Popen([str(OTREE), "prodserver", "127.0.0.1:%d" % free_port()], cwd=str(dest), env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + WAIT
            while "Application startup failed" not in log.read_text(errors="replace"):
                assert time.monotonic() < deadline and proc.poll() is None or \
                    "Application startup failed" in log.read_text(errors="replace"), log.read_text()[-3000:]
                time.sleep(0.2)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(60)
    text = log.read_text(errors="replace")
    # no server runs without the binding it was asked for, and the log says why
    assert "BIND_PARTICIPANT_TO_BROWSER is not available on oTree 6" in text, text[-3000:]
