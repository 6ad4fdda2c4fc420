"""Exports on oTree 6: the events CSV and an app's output table, through oTree's own export path.

A real `otree prodserver` with OTREE_AUTH_LEVEL=STUDY and a real Redis; two
participants play a period over their sockets; then the CSVs are downloaded
through oTree's REST export (`/api/export_app_custom`, the function the Data
page's download calls too) and through our streamed admin route, and compared
with the rows stored in the database.  No wall-clock bound.
"""
import asyncio
import csv
import http.cookiejar
import io
import json
import re
import textwrap
import urllib.parse
import urllib.request

import pytest

from conftest import Server, otree_env, otree_json, resetdb, run_otree, settings_py
from test_engine_e2e import SINGLE, TEMPLATE, _play, _rows, redis_url  # noqa: F401  (fixture)

REST_KEY = "tests6-rest-key"
PASSWORD = "tests6-admin-pw"

SETTINGS = settings_py('[dict(name="rt_dec", app_sequence=["rt_dec"], num_demo_participants=2)]',
                       "tests6-exports-secret", extra='REDWOOD = {"CSV_FORMULA_SAFE": True}')

# 0.9.x's per-app export hooks, in the single-file app's module
HOOKS = '''

def get_output_table_header(groups):
    return ["session", "group", "n_events", "channels", "participants", "formula"]


def get_output_table(events):
    if not events:
        return []
    group = events[0].group
    codes = sorted({e.participant.code for e in events if e.participant is not None})
    return [[group.session.code, group.id, len(events), " ".join(sorted({e.channel for e in events})),
             " ".join(codes), "=1+1"]]
'''


@pytest.fixture(scope="module")
def played(tmp_path_factory, redis_url):  # noqa: F811
    """A prodserver (STUDY) whose session rt_dec has played one period."""
    root = tmp_path_factory.mktemp("otree6x")
    r = run_otree(root, "startproject", "proj", env=otree_env(root), input="n\n")
    assert r.returncode == 0, r.stdout + r.stderr
    proj = root / "proj"
    for name, text in {"settings.py": SETTINGS, "rt_dec/__init__.py": SINGLE + HOOKS,
                       "rt_dec/Decision.html": TEMPLATE}.items():
        path = proj / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    env = otree_env(proj, REDWOOD_REDIS_URL=redis_url, OTREE_AUTH_LEVEL="STUDY", OTREE_PRODUCTION="1",
                    OTREE_ADMIN_PASSWORD=PASSWORD, OTREE_REST_KEY=REST_KEY)
    resetdb(proj, env=env)
    server = Server(proj, "prodserver", env=env)
    try:
        code = rest(server, "/api/sessions", {"session_config_name": "rt_dec", "num_participants": 2})["code"]
        info = rest(server, "/api/get_session/%s" % code, {})
        objs = [otree_json(server.page(p["code"])) for p in info["participants"]]
        asyncio.run(_play(server, objs))
        yield server, code, objs
    finally:
        server.stop()


def rest(server, path, data):
    req = urllib.request.Request(server.base + path, data=json.dumps(data).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "otree-rest-key": REST_KEY})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read().decode() or "null")


def rest_get(server, path):
    req = urllib.request.Request(server.base + path, headers={"otree-rest-key": REST_KEY})
    with urllib.request.urlopen(req, timeout=300) as r:
        return r.headers, r.read().decode("utf-8")


def login(server):
    """An opener whose cookie jar holds oTree's admin login."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(server.base + "/login", timeout=120).read().decode()
    token = re.search(r'name="csrftoken" value="([^"]+)"', html).group(1)
    data = urllib.parse.urlencode({"username": "admin", "password": PASSWORD, "csrftoken": token}).encode()
    opener.open(server.base + "/login", data=data, timeout=120).read()
    return opener


def stored_events(server, session_code):
    return _rows(server.project / "db.sqlite3",
                 "select e.channel, e.value, e.seq, p.code, e.group_pk from otree_redwood_event e "
                 "join otree_session s on s.id = e.session_id "
                 "left join otree_participant p on p.id = e.participant_id "
                 "where s.code = ? order by e.timestamp, e.id", (session_code,))


def parse(text):
    return list(csv.reader(io.StringIO(text)))


COLUMNS = ["session_code", "app", "round", "group", "id_in_subsession", "participant_code", "id_in_group",
           "channel", "seq", "recipient_code", "time_utc", "time_ms", "subperiod", "value"]


def test_events_csv_from_otrees_export_path_equals_what_was_played(played):  # noqa: F811
    server, code, objs = played
    headers, text = rest_get(server, "/api/export_app_custom?app=rt_dec&function_name="
                                     "custom_export_redwood_events&session_code=%s" % code)
    assert "rt_dec_custom_export_redwood_events" in headers["Content-Disposition"]
    rows = parse(text)
    assert rows[0] == COLUMNS  # oTree 3's columns, in oTree 3's order
    body = rows[1:]
    stored = stored_events(server, code)
    assert len(body) == len(stored) > 4
    for row, (channel, value, seq, pcode, group_pk) in zip(body, stored):
        assert row[0] == code and row[1] == "rt_dec" and row[2] == "1"
        assert row[3] == str(group_pk) and row[7] == channel
        assert row[5] == (pcode or "") and row[8] == ("" if seq is None else str(seq))
        assert json.loads(row[13]) == json.loads(value)
        assert row[10].endswith("Z") and float(row[12 - 1]) > 0
    a = objs[0]["participantCode"]
    decision = [r for r in body if r[7] == "decisions"]
    assert [(r[5], r[6], r[13]) for r in decision] == [(a, str(objs[0]["idInGroup"]), "0.75")]
    assert [json.loads(r[13]) for r in body if r[7] == "state"] == ["period_start", "period_end"]


def test_data_page_lists_both_exports_and_the_output_table_honours_formula_safe(played):  # noqa: F811
    server, code, objs = played
    opener = login(server)
    index = opener.open(server.base + "/ExportIndex", timeout=120).read().decode()
    assert "custom_export_redwood_events" in index
    assert "custom_export_redwood_output_table" in index
    _, text = rest_get(server, "/api/export_app_custom?app=rt_dec&function_name="
                               "custom_export_redwood_output_table&session_code=%s" % code)
    rows = parse(text)
    assert rows[0] == ["session", "group", "n_events", "channels", "participants", "formula"]
    (row,) = rows[1:]
    stored = stored_events(server, code)
    assert row[:3] == [code, str(objs[0]["group"]["pk"]), str(len(stored))]
    assert row[3] == "decisions group_decisions state"
    assert row[4] == objs[0]["participantCode"]  # the only member who sent something
    assert row[5] == "'=1+1"  # REDWOOD CSV_FORMULA_SAFE: a spreadsheet would have run it


def test_streamed_admin_csv_equals_the_data_page_file(played):  # noqa: F811
    server, code, _objs = played
    _, data_page = rest_get(server, "/api/export_app_custom?app=rt_dec&function_name="
                                    "custom_export_redwood_events&session_code=%s" % code)
    opener = login(server)
    r = opener.open(server.base + "/redwood/export/events/?session=%s" % code, timeout=300)
    assert "attachment" in r.headers["Content-Disposition"]
    streamed = r.read().decode()
    assert parse(streamed) == parse(data_page)
    r = opener.open(server.base + "/redwood_export_rt_dec/?session=%s&safe=0" % code, timeout=300)
    table = parse(r.read().decode())
    assert table[1][5] == "=1+1"  # ?safe=0 asked for the cell as it is
