"""example_project6, the oTree 6 example project: its bots, and its games played over sockets.

A copy of example_project6 per module, a real `otree prodserver`, a real
Redis, and two `websockets` clients that use the tokens of the participants'
rendered pages (helpers of test_engine_e2e).  Sessions are created with short
periods through oTree's REST API (``modified_session_config_fields``), as an
experimenter would for a pilot.  No wall-clock bound: every wait is for a
condition, with generous timeouts.
"""
import asyncio
import shutil
import urllib.parse
import urllib.request

import pytest

from conftest import REPO, Server, otree_env, otree_json, resetdb, run_otree
from test_engine_e2e import Client, _rows, _state, redis_url  # noqa: F401  (redis_url: a fixture)

EXAMPLE = REPO / "example_project6"
IGNORE = shutil.ignore_patterns("__pycache__", "db.sqlite3*", ".redwood", "*.log")


def copy_project(dest):
    shutil.copytree(EXAMPLE, dest, ignore=IGNORE)
    return dest


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_url):  # noqa: F811
    proj = copy_project(tmp_path_factory.mktemp("ex6") / "example_project6")
    env = otree_env(proj, REDWOOD_REDIS_URL=redis_url)
    resetdb(proj, env=env)
    s = Server(proj, "prodserver", env=env)
    yield s
    s.stop()


def create_session(server, config, **fields):
    code = server.post_json("/api/sessions", {
        "session_config_name": config, "num_participants": 2, "modified_session_config_fields": fields,
    })["code"]
    info = server.post_json("/api/get_session/%s" % code, {})
    return [p["code"] for p in info["participants"]]


def submit(server, participant_code):
    """POST the participant's current page, as <redwood-period> does at the period's end;
    returns the next page's HTML."""
    with urllib.request.urlopen(server.base + "/InitializeParticipant/%s" % participant_code, timeout=120) as r:
        url = r.geturl()
    req = urllib.request.Request(url, data=urllib.parse.urlencode({}).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.geturl(), r.read().decode()


@pytest.mark.parametrize("config", ["decision_demo", "subperiod_pd"])
def test_bots_of_the_example_apps_complete_a_session(tmp_path, config):
    proj = copy_project(tmp_path / "example_project6")
    r = run_otree(proj, "test", config)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "Bots completed session" in out, out
    assert out.count("/%s/Results/" % config) == 2, out


def test_decision_demo_a_decision_in_one_socket_reaches_the_other_and_the_results(server):
    codes = create_session(server, "decision_demo", period_length=4)
    objs = [otree_json(server.page(c)) for c in codes]
    a_code, b_code = codes

    async def go():
        a, b = [await Client.open(server, o) for o in objs]
        for c in (a, b):
            await c.wait_for(_state("period_start"), "period_start")
            first = await c.wait_for(lambda f: f["channel"] == "group_decisions", "the initial map")
            assert first["payload"] == {a_code: 0.5, b_code: 0.5}
        await a.send("decisions", 0.83)
        seen = await b.wait_for(lambda f: f["channel"] == "group_decisions" and f["payload"].get(a_code) == 0.83,
                                "A's decision at B")
        assert seen["payload"] == {a_code: 0.83, b_code: 0.5}
        for c in (a, b):
            await c.wait_for(_state("period_end"), "period_end")
            await c.ws.close()

    asyncio.run(go())
    # the page moves on as <redwood-period> makes it: Results shows both decisions
    url, html = submit(server, a_code)
    assert "/decision_demo/Results/" in url
    assert "0.83" in html and "0.50" in html
    rows = _rows(server.project / "db.sqlite3",
                 "select channel, value from otree_redwood_event where app_name = 'decision_demo' "
                 "and group_pk = ? order by timestamp, id", (objs[0]["group"]["pk"],))
    assert rows[0] == ("state", '"period_start"') and rows[-1] == ("state", '"period_end"')
    assert ("decisions", "0.83") in rows


def test_subperiod_pd_broadcasts_once_per_subperiod_and_pays_the_subperiods(server):
    codes = create_session(server, "subperiod_pd", period_length=3, num_subperiods=3)
    objs = [otree_json(server.page(c)) for c in codes]
    a_code, b_code = codes

    async def go():
        a, b = [await Client.open(server, o) for o in objs]
        for c in (a, b):
            await c.wait_for(_state("period_start"), "period_start")
        # A defects at once; B keeps cooperating (initial_decision 1.0)
        await a.send("decisions", 0)
        for c in (a, b):
            await c.wait_for(_state("period_end"), "period_end")
        # a socket that connects while the live map exists gets it first, without
        # a seq (not a broadcast): only the stored, numbered maps count here
        maps = [f["payload"] for f in b.frames if f["channel"] == "group_decisions" and f.get("seq") is not None]
        for c in (a, b):
            await c.ws.close()
        return maps

    maps = asyncio.run(go())
    # exactly one map per sub-period end (as in 0.9.x, none at the start):
    # A's decisions never make a broadcast of their own
    assert len(maps) == 3, maps
    assert maps[-1] == {a_code: 0, b_code: 1.0}
    pages = {}
    for code in codes:
        submit(server, code)  # Decide -> the wait page, which moves on when both arrived
    for code in codes:
        pages[code] = server.page(code)
    assert 'id="subperiods"' in pages[a_code]
    # 3 sub-periods in the table; A defected against a cooperator in (at
    # least) the last one: 150 points there
    assert pages[a_code].count("<td>Defect</td><td>Cooperate</td><td>150.00</td>") >= 1
    assert "of the 3 sub-periods" in pages[b_code]
    stored = _rows(server.project / "db.sqlite3",
                   "select pl.subperiods_played, pl._payoff from subperiod_pd_player pl "
                   "join otree_participant p on p.id = pl.participant_id where p.code in (?, ?) "
                   "order by pl.id_in_group", (a_code, b_code))
    assert [r[0] for r in stored] == [3, 3]
    assert stored[0][1] > stored[1][1]  # the defector earned more than the sucker
