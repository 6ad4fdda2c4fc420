"""Two Chromium participants play example_project6's decision_demo on a real oTree 6 prodserver.

Debian's Chromium driven by Playwright (tests/browserkit.py's settings: never
``playwright install``); without Chromium or Playwright the test is skipped,
unless ``REDWOOD_REQUIRE_BROWSER=1`` (CI), where it fails.  What a participant
would notice: both pages connect and the period runs, a move of the slider
in one page shows in the other, the period ends and both pages move on to the
results, no console error and no failed request (no 404 for a script, a
component or a style); then the session's events are in oTree's database and
in the Data page's events CSV.  Every wait is for a condition, with a generous
timeout for a loaded 2-core machine.
"""
import csv
import io
import shutil
import sys
import urllib.request

import pytest

from conftest import REPO, Server, otree_env, resetdb
from test_engine_e2e import _rows, redis_url  # noqa: F401  (redis_url: a fixture)

sys.path.insert(0, str(REPO / "tests"))
from browserkit import CHROMIUM_ARGS, require_chromium  # noqa: E402

WAIT_MS = 120_000  # any one expected change of a page (a loaded machine)
IGNORE = shutil.ignore_patterns("__pycache__", "db.sqlite3*", ".redwood", "*.log")


@pytest.fixture
def server(tmp_path, redis_url):  # noqa: F811
    proj = tmp_path / "example_project6"
    shutil.copytree(REPO / "example_project6", proj, ignore=IGNORE)
    env = otree_env(proj, REDWOOD_REDIS_URL=redis_url)
    resetdb(proj, env=env)
    s = Server(proj, "prodserver", env=env)
    yield s
    s.stop()


def play_in_chromium(server, a_code, b_code, move="0.9", initial="0.50"):
    """Two Chromium pages play decision_demo's period: A moves its slider to ``move``.

    Asserts what the participants see: both pages running, A's move at B,
    both on the results page with both final decisions, no console error and
    no failed request.  Needs the session's period long enough for both
    pages to connect.
    """
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    errors, failed = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            pages = []
            for participant in (a_code, b_code):
                page = browser.new_context().new_page()  # own cookies, as two browsers
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
                page.on("response", lambda r: r.status >= 400 and failed.append((r.status, r.url)))
                page.on("requestfailed", lambda r: failed.append((r.failure, r.url)))
                page.goto("%s/InitializeParticipant/%s" % (server.base, participant))
                pages.append(page)
            pa, pb = pages
            for page in pages:
                page.wait_for_function(
                    "document.getElementById('status').textContent.includes('running')", timeout=WAIT_MS)
                # the page's own window.oTree: this participant, a socket token
                assert page.evaluate("window.oTree.participantCode") in (a_code, b_code)
                assert page.evaluate("typeof window.oTree.socketToken") == "string"
            pa.fill("#slider", move)
            pa.dispatch_event("#slider", "input")
            pb.wait_for_function("document.getElementById('other').textContent === '%s'" % move, timeout=WAIT_MS)
            assert pa.text_content("#mine") == move
            # <redwood-period> submits each page at period_end (+ post_round_delay)
            for page in pages:
                page.wait_for_url("**/decision_demo/Results/**", timeout=WAIT_MS)
            shown = "%.2f" % float(move)
            for page in pages:
                table = page.text_content("#final-decisions")
                assert shown in table and initial in table
        finally:
            browser.close()
    assert errors == []
    assert failed == []


def test_two_chromium_participants_play_decision_demo(server):
    # long enough for both pages to connect and one move on a loaded machine;
    # the period starts only when both pages are connected
    code = server.post_json("/api/sessions", {"session_config_name": "decision_demo", "num_participants": 2,
                                              "modified_session_config_fields": {"period_length": 15}})["code"]
    a_code, b_code = [p["code"] for p in server.post_json("/api/get_session/%s" % code, {})["participants"]]
    play_in_chromium(server, a_code, b_code)

    rows = _rows(server.project / "db.sqlite3",
                 "select e.channel, e.value, p.code from otree_redwood_event e join otree_session s "
                 "on s.id = e.session_id left join otree_participant p on p.id = e.participant_id "
                 "where s.code = ? order by e.timestamp, e.id", (code,))
    assert rows[0][:2] == ("state", '"period_start"') and rows[-1][:2] == ("state", '"period_end"')
    assert ("decisions", "0.9", a_code) in rows
    with urllib.request.urlopen(server.base + "/api/export_app_custom?app=decision_demo"
                                "&function_name=custom_export_redwood_events", timeout=120) as r:
        exported = [e for e in csv.DictReader(io.StringIO(r.read().decode("utf-8-sig")))
                    if e["session_code"] == code]
    assert len(exported) == len(rows)
    assert any(e["channel"] == "decisions" and e["participant_code"] == a_code and e["value"] == "0.9"
               for e in exported)
