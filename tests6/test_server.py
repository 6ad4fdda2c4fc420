"""oTree 6 serving our routes, static tree and window.oTree, under prodserver and devserver."""
import re
import sqlite3
from pathlib import Path

import pytest

from conftest import STATIC_ROOT, Server, check_tokens, otree_json, resetdb

COMPAT_LIST = Path("/work/shared/compat/node_modules-0.9.x.txt")

# the keys the oTree 3 host's otree_redwood/Page.html puts in window.oTree
OTREE3_KEYS = {
    "group", "role", "roundNumber", "participantCode", "appName", "idInGroup", "csrfToken",
    "debug", "socketToken", "postRoundDelay", "_post_round_delay", "periodLength",
}


@pytest.fixture(scope="module")
def prodserver(tmp_path_factory, project_template):
    import shutil

    project = tmp_path_factory.mktemp("prod") / "proj"
    shutil.copytree(project_template, project)
    resetdb(project)
    server = Server(project, "prodserver")
    yield server
    server.stop()


def _static_files():
    return sorted(p for p in STATIC_ROOT.rglob("*") if p.is_file())


def test_every_file_of_our_static_tree_is_served_under_static(prodserver):
    files = _static_files()
    assert len(files) > 100
    wrong = []
    for path in files:
        url = "/static/" + path.relative_to(STATIC_ROOT).as_posix()
        status, _, body = prodserver.get(url)
        if status != 200 or body != path.read_bytes():
            wrong.append((url, status))
    assert wrong == []
    # oTree's own static files are still there
    assert prodserver.get("/static/otree/js/live.js")[0] == 200


def test_the_0_9_x_static_paths_are_served(prodserver):
    if not COMPAT_LIST.is_file():
        pytest.skip("the 0.9.x path listing is not on this machine")
    paths = [line.strip() for line in COMPAT_LIST.read_text().splitlines() if line.strip()]
    assert len(paths) == 120
    failed = [p for p in paths if prodserver.get("/static/otree-redwood/" + p)[0] != 200]
    assert failed == []


def test_our_routes_come_before_otree_static_mount(prodserver):
    status, _, body = prodserver.get("/static/otree-redwood/__probe__")
    assert (status, body) == (200, b'{"probe":"ours"}')
    assert prodserver.get("/static/otree-redwood/no-such-file.js")[0] == 404


def test_startup_ran_once_in_the_server(prodserver):
    status, _, body = prodserver.get("/rwprobe/ensure")
    assert status == 200 and body == b'{"before":true,"after":true}'
    log = (prodserver.project / "rwprobe.log").read_text().split()
    assert log.count("start") == 1


@pytest.mark.parametrize("config,period", [("rt_single", 30), ("rt_classic", 45)])
def test_participant_page_sets_window_otree_with_a_token_for_that_participant_only(prodserver, config, period):
    _, codes = prodserver.create_session(config)
    pages = [prodserver.page(code) for code in codes]
    objs = [otree_json(html) for html in pages]
    for code, o, html in zip(codes, objs, pages):
        assert set(o) == OTREE3_KEYS
        assert o["participantCode"] == code
        assert o["appName"] == config
        assert o["roundNumber"] == 1
        assert o["idInGroup"] in ("1", "2")  # a string, as 0.9.x rendered it
        assert [p["participantCode"] for p in o["group"]["players"]] == codes
        assert {p["id_in_group"] for p in o["group"]["players"]} == {1, 2}
        assert o["group"]["players"][0].keys() == {"participantCode", "role", "id_in_group", "payoff"}
        assert o["periodLength"] == period  # the app's hook, module-level or method
        assert o["postRoundDelay"] == 1 and o["_post_round_delay"] == 1000
        assert o["csrfToken"] == "" and isinstance(o["debug"], bool)
        # the components load from the oTree 3 URLs, and those are served
        srcs = re.findall(r'src="(/static/otree-redwood/[^"]+)"', html)
        assert "/static/otree-redwood/src/redwood-events/redwood-events.js" in srcs
        assert len(srcs) == 9
        assert all(prodserver.get(src)[0] == 200 for src in srcs)
    a, b = objs
    pk = a["group"]["pk"]
    assert b["group"]["pk"] == pk and a["socketToken"] != b["socketToken"]
    verdicts = check_tokens(prodserver.project, [
        [a["socketToken"], codes[0], config, pk],      # own token
        [b["socketToken"], codes[1], config, pk],      # the other member's own token
        [b["socketToken"], codes[0], config, pk],      # the other member's token for my socket
        [a["socketToken"], codes[0], config, pk + 1],  # another group
        [a["socketToken"], codes[0], "rt_other", pk],  # another app
        ["", codes[0], config, pk],
        [a["socketToken"][:-1], codes[0], config, pk],
        # what a browser may send instead of a token: refused, no error
        [None, codes[0], config, pk],
        [123, codes[0], config, pk],
        [["x"], codes[0], config, pk],
        ["\u00e9" * 64, codes[0], config, pk],
    ])
    assert verdicts == [True, True, False, False, False, False, False, False, False, False, False]


def test_devserver_serves_the_same_and_saves_our_table_with_its_database(make_project):
    project = make_project()
    server = Server(project, "devserver")
    try:
        assert server.get("/static/otree-redwood/src/redwood-events/redwood-events.js")[0] == 200
        assert server.get("/static/otree-redwood/__probe__")[0] == 200
        _, codes = server.create_session("rt_single")
        o = otree_json(server.page(codes[0]))
        assert o["appName"] == "rt_single" and o["socketToken"]
    finally:
        server.stop()
    log = (project / "rwprobe.log").read_text().split()
    # started once in devserver's child, stopped once on SIGINT
    assert log.count("start") == 1 and log.count("stop") == 1
    # the stop callback wrote a row into the in-memory database; it is in the
    # file, so our stop ran before oTree's save_sqlite_db, and our tables are saved
    conn = sqlite3.connect(str(project / "db.sqlite3"))
    keys = [r[0] for r in conn.execute("select key from otree_redwood_redisnamespace")]
    conn.close()
    assert keys == ["written-on-stop"]
