"""Our tables in oTree 6's database, both app formats' group columns, and the cascade."""
import asyncio
import csv
import io
import json
import sqlite3
import subprocess
import sys
import textwrap

import websockets

from conftest import Server, otree_env, resetdb

EVENT_COLUMNS = {
    "id", "timestamp", "session_id", "app_name", "group_pk", "channel",
    "participant_id", "value", "seq", "recipient_id",
}


def _columns(conn, table):
    return {row[1] for row in conn.execute("PRAGMA table_info(%s)" % table)}


def test_resetdb_creates_our_tables_and_the_group_columns_of_both_formats(make_project):
    project = make_project()
    resetdb(project)
    conn = sqlite3.connect(str(project / "db.sqlite3"))
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert {"otree_redwood_event", "otree_redwood_connection", "otree_redwood_redisnamespace",
            "otree_redwood_emitterrecord"} <= tables
    assert _columns(conn, "otree_redwood_event") == EVENT_COLUMNS
    assert {"participant_id", "connected_at", "process"} <= _columns(conn, "otree_redwood_connection")
    assert {"timer_id", "gk", "first_ms", "interval_ms", "n", "done", "data"} <= _columns(
        conn, "otree_redwood_emitterrecord")
    # single-file app on DecisionGroupColumns, models.py app on GroupColumns
    assert {"ran_ready_function", "group_decisions", "subperiod_group_decisions",
            "_group_decisions_updated"} <= _columns(conn, "rt_single_group")
    classic = _columns(conn, "rt_classic_group")
    assert "ran_ready_function" in classic and "group_decisions" not in classic
    fks = {(r[2], r[3], r[6]) for r in conn.execute("PRAGMA foreign_key_list(otree_redwood_event)")}
    assert ("otree_session", "session_id", "CASCADE") in fks
    assert ("otree_participant", "participant_id", "CASCADE") in fks


def _insert_events(db_path, session_code, n):
    conn = sqlite3.connect(str(db_path))
    with conn:
        sid = conn.execute("select id from otree_session where code=?", (session_code,)).fetchone()[0]
        pid = conn.execute("select id from otree_participant where session_id=? order by id",
                           (sid,)).fetchone()[0]
        conn.executemany(
            "insert into otree_redwood_event (timestamp, session_id, app_name, group_pk, channel,"
            " participant_id, value) values ('2026-01-01 00:00:00', ?, 'rt_single', 1, 'decisions', ?, ?)",
            [(sid, pid if i % 2 else None, json.dumps(i)) for i in range(n)],
        )
    conn.close()


def _count_events(db_path, session_code):
    conn = sqlite3.connect(str(db_path))
    try:
        return conn.execute(
            "select count(*) from otree_redwood_event e where e.session_id in"
            " (select id from otree_session where code=?)", (session_code,)).fetchone()[0], \
            conn.execute("select count(*) from otree_redwood_event").fetchone()[0]
    finally:
        conn.close()


def test_deleting_a_session_in_otree_deletes_its_events_only(make_project):
    project = make_project()
    resetdb(project)
    server = Server(project, "prodserver")
    try:
        doomed, _ = server.create_session("rt_single")
        kept, _ = server.create_session("rt_single")
        db_path = project / "db.sqlite3"
        _insert_events(db_path, doomed, 5)
        _insert_events(db_path, kept, 3)
        assert _count_events(db_path, doomed) == (5, 8)

        async def delete():
            # what oTree's Sessions page does when the admin deletes sessions
            async with websockets.connect("ws://127.0.0.1:%d/delete_sessions" % server.port) as ws:
                await ws.send(json.dumps([doomed]))
                return json.loads(await asyncio.wait_for(ws.recv(), 300))

        assert asyncio.run(delete()) == "ok"
        conn = sqlite3.connect(str(db_path))
        left = conn.execute("select count(*) from otree_session where code=?", (doomed,)).fetchone()[0]
        conn.close()
        assert left == 0
        assert _count_events(db_path, doomed) == (0, 3)
    finally:
        server.stop()


ORM_SCRIPT = textwrap.dedent('''
    import io, json, os, sys
    os.environ["OTREE_IN_MEMORY"] = "1"      # as `otree test` runs
    sys.argv = ["otree", "test"]
    from otree.main import setup
    setup()
    from otree import export
    from otree.common import get_models_module
    from otree.database import db, session_scope
    from otree.models import Session
    from otree.session import create_session

    out = {}
    with session_scope():
        code = create_session("rt_single", num_participants=2).code
    Group = get_models_module("rt_single").Group
    with session_scope():
        g = db.query(Group).first()
        out["unset"] = [g.field_maybe_none("group_decisions"), g.field_maybe_none("ran_ready_function")]
        g.group_decisions = {"a": 1}
        g.ran_ready_function = 1700000000.5
    with session_scope():
        g = db.query(Group).first()
        g.group_decisions["b"] = 2           # changed in place: must be saved too
    with session_scope():
        g = db.query(Group).first()
        out["decisions"] = dict(g.group_decisions)
        out["ran"] = g.ran_ready_function
        fp = io.StringIO()
        export.export_app("rt_single", fp)
        out["csv"] = fp.getvalue()
        # the admin Data tab sends these rows through json.dumps
        out["datatab"] = json.dumps(list(export.get_rows_for_data_tab(Session.objects_get(code=code))))
    print("RESULT " + json.dumps(out))
''')


def test_json_columns_save_in_place_changes_and_export_as_json(make_project):
    project = make_project()
    r = subprocess.run(
        [sys.executable, "-c", ORM_SCRIPT], cwd=str(project),
        env=otree_env(project, PYTHONPATH=str(project)), capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.split("RESULT ", 1)[1])
    assert out["unset"] == [None, None]
    assert out["decisions"] == {"a": 1, "b": 2}
    assert out["ran"] == 1700000000.5
    rows = list(csv.DictReader(io.StringIO(out["csv"])))
    assert rows and json.loads(rows[0]["group.group_decisions"]) == {"a": 1, "b": 2}
    assert rows[0]["group.group_decisions"] == '{"a":1,"b":2}'
    # as oTree 6 does for every "_" column; on oTree 3 it is in the CSV
    assert "group._group_decisions_updated" not in rows[0]
    assert "group.ran_ready_function" in rows[0]
