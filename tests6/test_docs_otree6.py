"""docs/otree6.rst followed as written, then its session played and exported.

The page marks the blocks a reader runs with an RST comment
``.. docs-path: <step>`` above the code block, as quickstart.rst does for
oTree 3 (tests/test_docs_path.py): ``install`` (skipped here: this
checkout's .venv6 is the reader's virtualenv), ``run`` (shell commands, run
in order in one shell) and ``append <file>`` (lines added at the end of a
file).  ``path/to/otree-redwood`` is replaced by this checkout.

The doc's ``otree test`` step plays the real-time period with the oTree 6
bots.  Then the doc's app runs on ``otree prodserver`` and the embedded
Redis, as a reader would run it: two Chromium participants play a session
(test_browser6.play_in_chromium; skipped without Chromium unless
REDWOOD_REQUIRE_BROWSER=1, as in CI), and two ``websockets`` clients with
the tokens of the rendered pages play another, checking each frame.  Then
the events are checked in oTree's database and in the Data page's exports,
and the doc's last step stops the embedded Redis.
"""
import asyncio
import csv
import io
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, VENV_BIN, Server, otree_json, resetdb
from test_browser6 import play_in_chromium
from test_engine_e2e import Client, _rows, _state

DOC = REPO / "docs" / "otree6.rst"
PLACEHOLDER = "path/to/otree-redwood"
MARK = re.compile(
    r"^\.\. docs-path: (?P<step>[a-z]+)(?: (?P<arg>\S+))?\n\n"
    r"\.\. code-block:: \w+\n\n"
    r"(?P<body>(?:(?:   .*)?\n)+)",
    re.M,
)
NOT_A_READERS_ENV = ("REDWOOD_", "DATABASE_URL", "OTREE_", "PYTHONPATH", "PYTHONWARNINGS")


def steps():
    text = DOC.read_text()
    found = [(m.group("step"), m.group("arg"), textwrap.dedent(m.group("body")).strip("\n") + "\n")
             for m in MARK.finditer(text)]
    # a marker before anything else than a code block would silently drop a step
    assert len(found) == text.count(".. docs-path:"), "a docs-path marker not followed by a code block"
    return found


def shell_script(doc_steps):
    lines = ["set -euo pipefail"]
    for step, arg, body in doc_steps:
        body = body.replace(PLACEHOLDER, str(REPO))
        if step == "run":
            lines.append(body)
        elif step == "append":
            lines.append("printf '\\n' >> %s" % arg)
            lines.append("cat >> %s <<'REDWOOD_DOCS_EOF'\n%sREDWOOD_DOCS_EOF" % (arg, body))
        elif step != "install":
            raise AssertionError("unknown docs-path step %r" % step)
    return "\n".join(lines) + "\n"


def readers_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_A_READERS_ENV)}
    env["PATH"] = str(VENV_BIN) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_bash(script, cwd):
    return subprocess.run(["bash", "-c", script], cwd=str(cwd), env=readers_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=900)


@pytest.fixture
def workdir():
    # short: the embedded Redis's socket path must stay under 100 bytes
    folder = Path(tempfile.mkdtemp(prefix="rw6-docs-", dir="/tmp"))
    yield folder
    from otree_redwood.engine import embedded_redis

    for redwood in folder.glob("**/.redwood"):
        embedded_redis.stop(str(redwood), force=True)
    shutil.rmtree(folder, ignore_errors=True)


def get_text(server, path):
    with urllib.request.urlopen(server.base + path, timeout=120) as r:
        return r.read().decode("utf-8-sig")


def submit(server, participant_code):
    """POST the participant's current page, as <redwood-period> does at the period's end."""
    with urllib.request.urlopen(server.base + "/InitializeParticipant/%s" % participant_code, timeout=120) as r:
        url = r.geturl()
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=120) as r:
        return r.geturl(), r.read().decode()


def test_the_otree6_page_from_startproject_to_a_played_and_exported_session(workdir):
    doc_steps = steps()
    kinds = [s for s, _, _ in doc_steps]
    assert kinds[0] == "install" and "append" in kinds and kinds[-1] == "run"
    install = doc_steps[0][2]
    assert "pip install path/to/otree-redwood" in install and "-m venv" in install
    script = shell_script(doc_steps)
    assert "otree startproject" in script and "otree test decision_demo" in script

    # 1. the doc's steps, literally (the last one stops a Redis that nothing started yet)
    proc = run_bash(script, workdir)
    out = proc.stdout
    assert proc.returncode == 0, "the steps failed:\n%s\n--- output:\n%s" % (script, out[-6000:])
    assert "Bots completed session" in out, out[-6000:]
    assert out.count("/decision_demo/Results/") == 2, out[-6000:]
    for noise in ("Traceback", "Warning"):
        assert noise not in out, out[-6000:]
    project = workdir / "my_project"
    assert ".redwood/" in (project / ".gitignore").read_text().split()
    assert "otree_redwood" not in (project / "settings.py").read_text()  # nothing to configure

    # 2. the doc's app, played in real time by two Chromium participants
    # (prodserver, the embedded Redis), then by two sockets with the tokens
    # of the rendered pages, which check each frame
    env = readers_env()
    resetdb(project, env=env)
    server = Server(project, "prodserver", env=env)
    try:
        played = server.post_json("/api/sessions", {"session_config_name": "decision_demo", "num_participants": 2,
                                                    "modified_session_config_fields": {"period_length": 15}})["code"]
        play_in_chromium(server, *[p["code"] for p in server.post_json("/api/get_session/%s" % played,
                                                                         {})["participants"]], move="0.8")
        assert ("decisions", "0.8") in _rows(
            project / "db.sqlite3", "select e.channel, e.value from otree_redwood_event e join otree_session s "
            "on s.id = e.session_id where s.code = ?", (played,))
        code = server.post_json("/api/sessions", {"session_config_name": "decision_demo", "num_participants": 2,
                                                  "modified_session_config_fields": {"period_length": 4}})["code"]
        codes = [p["code"] for p in server.post_json("/api/get_session/%s" % code, {})["participants"]]
        objs = [otree_json(server.page(c)) for c in codes]
        a_code, b_code = codes

        async def play():
            a, b = [await Client.open(server, o) for o in objs]
            for c in (a, b):
                await c.wait_for(_state("period_start"), "period_start")
            await b.send("decisions", 0.27)
            seen = await a.wait_for(
                lambda f: f["channel"] == "group_decisions" and f["payload"].get(b_code) == 0.27, "B's decision at A")
            assert seen["payload"] == {a_code: 0.5, b_code: 0.27}
            for c in (a, b):
                await c.wait_for(_state("period_end"), "period_end")
                await c.ws.close()

        asyncio.run(play())
        for c in codes:
            url, html = submit(server, c)
            assert "/decision_demo/Results/" in url and "0.27" in html

        # 3. exported: the event log in oTree's database, the Data page's events
        # CSV and the app's CSV
        rows = _rows(project / "db.sqlite3",
                     "select e.channel, e.value from otree_redwood_event e join otree_session s "
                     "on s.id = e.session_id where s.code = ? order by e.timestamp, e.id", (code,))
        assert rows[0] == ("state", '"period_start"') and rows[-1] == ("state", '"period_end"')
        assert ("decisions", "0.27") in rows
        events = list(csv.DictReader(io.StringIO(get_text(
            server, "/api/export_app_custom?app=decision_demo&function_name=custom_export_redwood_events"))))
        mine = [e for e in events if e["session_code"] == code]
        assert [e["channel"] for e in mine] == [r[0] for r in rows]
        assert any(e["channel"] == "decisions" and e["participant_code"] == b_code and e["value"] == "0.27"
                   for e in mine)
        app_rows = [r for r in csv.DictReader(io.StringIO(get_text(server, "/api/export_app?app=decision_demo")))
                    if r.get("session.code") == code]
        assert len(app_rows) == 2, app_rows[:1]
        group_columns = [v for k, v in app_rows[0].items() if k.endswith("group.group_decisions")]
        assert group_columns and "0.27" in group_columns[0]
    finally:
        server.stop()

    # 4. the doc's last step stops the embedded Redis the server started
    last = doc_steps[-1][2].replace(PLACEHOLDER, str(REPO))
    stop = run_bash("set -euo pipefail\ncd my_project\n" + last, workdir)
    assert stop.returncode == 0, stop.stdout
    assert "Embedded Redis stopped" in stop.stdout, stop.stdout
    assert not (project / ".redwood" / "redis.sock").exists()
