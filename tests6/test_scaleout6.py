"""Two oTree 6 server processes on one PostgreSQL and one Redis: the members of a group on different processes.

oTree 6 serves from one process, but nothing in otree-redwood's part ties a
group to one: its frames travel on the group's Redis bus, its state and
timers live in Redis, its events in the shared database.  Here each group
has one member on each of two ``otree prodserver`` processes (same project,
same database, same Redis).  Both members send a burst of decisions at the
same time: every decision is stored once, a seq seen by both members is
the same map for both, what each page keeps by its own rules holds every
stored message but maps in between (coalesced for a socket that fell
behind) and ends on the last map, the last map holds
both last decisions (no lost update), and the period ends exactly once per
group (its timer claimed by one process) and reaches both.
"""
import asyncio
import json
import os
import shutil
import textwrap

import pytest

from conftest import Server, otree_env, otree_json, resetdb, run_otree, settings_py
from otree_redwood.engine import client_rules
from pg import Postgres, unavailable_reason
from test_engine_e2e import SINGLE, TEMPLATE, WAIT, Client, _state, redis_url  # noqa: F401  (a fixture)

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(
    REASON is not None and not os.environ.get("REDWOOD_REQUIRE_POSTGRES"),
    reason="PostgreSQL: %s" % REASON,
)

SETTINGS = settings_py(
    '[dict(name="rt_dec", app_sequence=["rt_dec"], num_demo_participants=2, period_length=12)]',
    "tests6-scaleout-secret", admin_password='"scaleout"')

BURST = 40  # decisions per member, sent at once by both members


@pytest.fixture(scope="module")
def pg():
    server = Postgres()
    yield server
    server.stop()


@pytest.fixture
def two_servers(tmp_path, pg, redis_url):  # noqa: F811  (the imported fixture)
    r = run_otree(tmp_path, "startproject", "proj", env=otree_env(tmp_path), input="n\n")
    assert r.returncode == 0, r.stdout + r.stderr
    proj = tmp_path / "proj"
    (proj / "settings.py").write_text(textwrap.dedent(SETTINGS).lstrip())
    (proj / "rt_dec").mkdir()
    (proj / "rt_dec" / "__init__.py").write_text(textwrap.dedent(SINGLE).lstrip())
    (proj / "rt_dec" / "Decision.html").write_text(TEMPLATE)
    env = {"DATABASE_URL": pg.url(), "REDWOOD_REDIS_URL": redis_url}
    resetdb(proj, env=otree_env(proj, **env))
    servers = []
    try:
        for name in ("a", "b"):
            # a copy each (its own log files); the same settings, database and Redis
            dest = tmp_path / name
            shutil.copytree(proj, dest)
            servers.append(Server(dest, "prodserver", env=otree_env(dest, **env)))
        yield servers
    finally:
        for s in servers:
            s.stop()


def _kept_by_page(frames):
    """The frames with a seq that a page applies, in arrival order (the page's rules)."""
    tracker = client_rules.SeqTracker()
    return [f for f in frames if f.get("seq") is not None and tracker.accept(f) == "ok"]


def test_a_group_split_over_two_processes_loses_nothing_and_ends_once(two_servers, pg):
    a_srv, b_srv = two_servers
    groups = []
    for _ in range(2):
        _, codes = a_srv.create_session("rt_dec")
        # each member's page from a different process: both render the same token
        groups.append([otree_json(a_srv.page(codes[0])), otree_json(b_srv.page(codes[1]))])

    async def play(objs):
        a = await Client.open(a_srv, objs[0])
        b = await Client.open(b_srv, objs[1])
        code_a, code_b = objs[0]["participantCode"], objs[1]["participantCode"]
        for c in (a, b):
            await c.wait_for(_state("period_start"), "period_start")
        # both members at once, each a burst of distinct values
        await asyncio.gather(*[c.ws.send(json.dumps({"channel": "decisions", "payload": i + 1000 * k}))
                               for i in range(1, BURST + 1) for k, c in ((1, a), (2, b))])
        last = {code_a: BURST + 1000, code_b: BURST + 2000}
        for c in (a, b):
            await c.wait_for(lambda f: f["channel"] == "group_decisions" and f["payload"] == last,
                             "the map with both last decisions")
        ends = [await c.wait_for(_state("period_end"), "period_end") for c in (a, b)]
        for c in (a, b):
            await c.ws.close()
        return a.frames, b.frames, ends

    async def both():
        return await asyncio.gather(*[play(objs) for objs in groups])

    results = asyncio.run(both())
    conn = pg.connect()
    for objs, (frames_a, frames_b, ends) in zip(groups, results):
        # what each page keeps, by the page's own rules (seq.js, as
        # engine/client_rules.SeqTracker): a frame seen already is dropped (a
        # socket connecting as the period starts gets its first frames from
        # its connect and from the bus), and so is a map older than the one
        # applied (a slow connect's "latest map" can come after newer live
        # ones); maps in between may be coalesced for a socket that fell
        # behind in the burst: only the latest map matters
        kept_a, kept_b = _kept_by_page(frames_a), _kept_by_page(frames_b)
        # (a map sent before the first stored one goes without a seq)
        maps_a = {f["seq"]: f["payload"] for f in frames_a if f["channel"] == "group_decisions" and "seq" in f}
        maps_b = {f["seq"]: f["payload"] for f in frames_b if f["channel"] == "group_decisions" and "seq" in f}
        common = set(maps_a) & set(maps_b)
        assert common and all(maps_a[s] == maps_b[s] for s in common)
        assert ends[0]["seq"] == ends[1]["seq"]
        with conn.cursor() as cur:
            cur.execute("select channel, value, seq from otree_redwood_event where app_name = 'rt_dec' "
                        "and group_pk = %s order by id", (objs[0]["group"]["pk"],))
            rows = cur.fetchall()
        decisions = sorted(json.loads(v) for ch, v, _ in rows if ch == "decisions")
        assert decisions == sorted(list(range(1001, 1001 + BURST)) + list(range(2001, 2001 + BURST)))
        assert [v for ch, v, _ in rows if ch == "state"].count('"period_end"') == 1
        stored_seqs = [s for _, _, s in rows if s is not None]
        assert len(stored_seqs) == len(set(stored_seqs))
        stored_by_seq = {seq: ch for ch, _, seq in rows if seq is not None}
        must = sorted(seq for seq, ch in stored_by_seq.items() if ch != "group_decisions")
        last_map = max(seq for seq, ch in stored_by_seq.items() if ch == "group_decisions")
        for kept in (kept_a, kept_b):
            seqs = [f["seq"] for f in kept]
            assert set(seqs) <= set(stored_by_seq)
            assert set(must) <= set(seqs)
            maps = [f["seq"] for f in kept if f["channel"] == "group_decisions"]
            assert maps[-1] == last_map  # the page ends on the last stored map
        # what the clients were sent is what was stored, under the same seq
        stored = {s: (ch, json.loads(v)) for ch, v, s in rows if s is not None}
        for f in frames_a + frames_b:
            if f.get("seq") is not None:
                assert stored[f["seq"]] == (f["channel"], f["payload"])
    conn.close()
