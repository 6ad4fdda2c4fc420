"""Redis keys belong to one database.

Group primary keys start again at the same number in every fresh database
(``otree resetdb``, a second project), and the embedded or shared Redis
outlives them.  Against real servers on one real Redis: a reset database
never sees an older one's map or sequence numbers, and two projects on one
Redis at once never mix.
"""
import asyncio
import os
import sqlite3
import subprocess

import pytest

from tests import harness
from tests.test_recovery import Client, is_state

pytestmark = pytest.mark.e2e

APP = "decision_demo"


def otree(db_path, *args):
    env = dict(os.environ, DATABASE_URL="sqlite:///" + db_path,
               PATH=harness.BIN + os.pathsep + os.environ.get("PATH", ""))
    subprocess.run([os.path.join(harness.BIN, "otree")] + list(args), cwd=harness.EXAMPLE, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def new_database_with_session(db_path):
    """``otree resetdb`` then one 2-player session; its group pk and codes."""
    otree(db_path, "resetdb", "--noinput")
    otree(db_path, "create_session", "decision_demo", "2")
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT pl.group_id, p.code FROM decision_demo_player pl "
            "JOIN otree_participant p ON p.id = pl.participant_id ORDER BY pl.group_id, pl.id_in_group"
        ).fetchall()
    (gpk,) = {g for g, _ in rows}
    return gpk, [code for _, code in rows]


@pytest.fixture
def servers(static_files):
    procs = []

    def start(db_path, redis_url):
        proc = harness.ServerProcess(db_path, redis_url).start()
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        p.kill()


async def play(srv, gpk, codes, value):
    """Connect both members, wait for the period, move the first one's slider."""
    a, b = codes
    clients = [Client(srv.ws_base, APP, gpk, c) for c in codes]
    for c in clients:
        await c.wait_for(is_state("period_start"))
    await clients[0].send("decisions", value)
    for c in clients:
        await c.wait_for(lambda m: m["channel"] == "group_decisions" and m["payload"].get(a) == value)
    return clients


async def stop_all(clients):
    for c in clients:
        await c.stop()


async def test_reset_database_never_sees_the_old_state(servers, redis_server, tmp_path):
    db_path = str(tmp_path / "db.sqlite3")
    url = redis_server.url(2)
    old_gpk, old_codes = new_database_with_session(db_path)
    srv = servers(db_path, url)
    clients = await play(srv, old_gpk, old_codes, 0.9)
    for i in range(20):  # the old group's seq climbs well above a new one's
        await clients[1].send("decisions", i / 100.0)
    await clients[0].wait_for(lambda m: m["channel"] == "group_decisions" and m["payload"].get(old_codes[1]) == 0.19)
    await stop_all(clients)
    srv.kill()

    gpk, codes = new_database_with_session(db_path)  # resetdb: the same group pk again
    assert gpk == old_gpk
    srv = servers(db_path, url)
    first = Client(srv.ws_base, APP, gpk, codes[0])
    try:
        for _ in range(200):
            if first.sock is not None:
                break
            await asyncio.sleep(0.05)
        assert first.sock is not None
        await asyncio.sleep(1.0)  # alone: whatever the server sends on connect has come
        text = repr(first.frames)
        for code in old_codes:
            assert code not in text, first.frames
        assert all(m.get("seq", 0) <= 1 for m in first.frames), first.frames
        second = Client(srv.ws_base, APP, gpk, codes[1])
        for c in (first, second):
            start = await c.wait_for(is_state("period_start"))
            assert start["seq"] == 1
            m = await c.wait_for(lambda m: m["channel"] == "group_decisions")
            assert m["payload"] == {codes[0]: 0.5, codes[1]: 0.5} and m["seq"] == 2
        await stop_all([second])
    finally:
        await stop_all([first])


async def test_two_projects_share_one_redis(servers, redis_server, tmp_path):
    url = redis_server.url(2)
    dbs = [str(tmp_path / "a.sqlite3"), str(tmp_path / "b.sqlite3")]
    made = [new_database_with_session(db) for db in dbs]
    assert made[0][0] == made[1][0]  # the same group pk in both
    srvs = [servers(db, url) for db in dbs]
    clients_a = await play(srvs[0], made[0][0], made[0][1], 0.1)
    clients_b = await play(srvs[1], made[1][0], made[1][1], 0.2)
    try:
        for i in range(5):
            await clients_a[1].send("decisions", round(0.3 + i / 100.0, 2))
            await clients_b[1].send("decisions", round(0.6 + i / 100.0, 2))
        await clients_a[0].wait_for(lambda m: m["channel"] == "group_decisions"
                                    and m["payload"].get(made[0][1][1]) == 0.34)
        await clients_b[0].wait_for(lambda m: m["channel"] == "group_decisions"
                                    and m["payload"].get(made[1][1][1]) == 0.64)
        await asyncio.sleep(0.5)
        for clients, (_, codes), (_, other) in ((clients_a, made[0], made[1]), (clients_b, made[1], made[0])):
            for c in clients:
                maps = [m for m in c.frames if m["channel"] == "group_decisions"]
                assert all(set(m["payload"]) == set(codes) for m in maps), maps
                assert not any(code in repr(c.frames) for code in other)
                # each project numbers its own messages: 1 (period_start), 2 (first map), ...
                seqs = [m["seq"] for m in c.frames if "seq" in m]
                assert seqs == list(range(1, len(seqs) + 1)), seqs
    finally:
        await stop_all(clients_a + clients_b)
