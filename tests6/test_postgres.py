"""Our tables and the session-delete cascade on PostgreSQL (oTree 6 with DATABASE_URL)."""
import asyncio
import json
import os

import pytest
import websockets

from conftest import Server, otree_env, resetdb
from pg import Postgres, unavailable_reason

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(
    REASON is not None and not os.environ.get("REDWOOD_REQUIRE_POSTGRES"),
    reason="PostgreSQL: %s" % REASON,
)


@pytest.fixture(scope="module")
def pg():
    server = Postgres()
    yield server
    server.stop()


def test_tables_and_cascade_on_postgresql(pg, make_project):
    project = make_project()
    env = otree_env(project, DATABASE_URL=pg.url())
    resetdb(project, env=env)
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("select column_name, data_type from information_schema.columns"
                    " where table_name = 'otree_redwood_event'")
        columns = dict(cur.fetchall())
        cur.execute(
            "select kcu.column_name, ccu.table_name, rc.delete_rule"
            " from information_schema.referential_constraints rc"
            " join information_schema.key_column_usage kcu on kcu.constraint_name = rc.constraint_name"
            " join information_schema.constraint_column_usage ccu on ccu.constraint_name = rc.constraint_name"
            " where kcu.table_name = 'otree_redwood_event'")
        fks = set(cur.fetchall())
        cur.execute("select column_name from information_schema.columns where table_name = 'rt_single_group'")
        group_columns = {r[0] for r in cur.fetchall()}
    assert columns["id"] == "bigint" and columns["value"] == "text"
    assert ("session_id", "otree_session", "CASCADE") in fks
    assert ("participant_id", "otree_participant", "CASCADE") in fks
    assert {"ran_ready_function", "group_decisions", "subperiod_group_decisions"} <= group_columns

    server = Server(project, "prodserver", env=env)
    try:
        doomed, _ = server.create_session("rt_single")
        kept, _ = server.create_session("rt_single")
        with conn.cursor() as cur:
            for code, n in ((doomed, 4), (kept, 2)):
                cur.execute("select id from otree_session where code = %s", (code,))
                sid = cur.fetchone()[0]
                cur.executemany(
                    "insert into otree_redwood_event (timestamp, session_id, app_name, group_pk, channel, value)"
                    " values (now(), %s, 'rt_single', 1, 'decisions', %s)",
                    [(sid, json.dumps(i)) for i in range(n)])

        async def delete():
            async with websockets.connect("ws://127.0.0.1:%d/delete_sessions" % server.port) as ws:
                await ws.send(json.dumps([doomed]))
                return json.loads(await asyncio.wait_for(ws.recv(), 300))

        assert asyncio.run(delete()) == "ok"
        with conn.cursor() as cur:
            cur.execute("select s.code, count(*) from otree_redwood_event e"
                        " join otree_session s on s.id = e.session_id group by s.code")
            left = dict(cur.fetchall())
            cur.execute("select count(*) from otree_redwood_event")
            total = cur.fetchone()[0]
        assert left == {kept: 2} and total == 2
    finally:
        server.stop()
        conn.close()
