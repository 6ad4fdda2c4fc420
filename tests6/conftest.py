"""Harness for the oTree 6 host's tests: real `otree` commands on a throwaway project.

Run with the oTree 6 venv: `.venv6/bin/python -m pytest tests6` (scripts/setup_venv6.sh).
Every test drives the `otree` executable of that venv as a separate process,
in a project made by `otree startproject` with two apps using our bases, one
per app format oTree 6 runs:

- rt_single: the single-file format (`__init__.py` holds C, models, pages),
  `class Group(DecisionGroupColumns)` and a module-level hook
  `def period_length(group)`;
- rt_classic: the models.py/pages.py format (`Constants`, `templates/`),
  `class Group(GroupColumns)` with a method hook `def period_length(self)`.

Both templates say `{% extends "otree_redwood/Page.html" %}`.  A probe module
(`rwprobe.py`, imported by both apps) registers a route under /static and
start/stop callbacks through otree_redwood.otree6.attach, and logs what ran
to a file, so tests see the attach points work from outside the process.

No test has a wall-clock bound: waits are for conditions, with generous
timeouts for a loaded 2-core machine.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
OTREE = str(VENV_BIN / "otree")
STATIC_ROOT = REPO / "otree_redwood" / "static"
# generous: a loaded 2-core machine shared with other sessions
START_TIMEOUT = 180
STOP_TIMEOUT = 60

def settings_py(session_configs, secret, admin_password='environ.get("OTREE_ADMIN_PASSWORD")', extra=""):
    """A test project's settings.py: its ``SESSION_CONFIGS`` (Python text) and secret; the rest as oTree 6 wants it.

    ``admin_password`` is Python text too (None: no password).
    """
    return "\n".join([
        "from os import environ",
        "",
        "SESSION_CONFIGS = %s" % session_configs,
        'SESSION_CONFIG_DEFAULTS = dict(real_world_currency_per_point=1.00, participation_fee=0.00, doc="")',
        "PARTICIPANT_FIELDS = []",
        "SESSION_FIELDS = []",
        'LANGUAGE_CODE = "en"',
        'REAL_WORLD_CURRENCY_CODE = "USD"',
        "USE_POINTS = True",
        'ADMIN_USERNAME = "admin"',
        "ADMIN_PASSWORD = %s" % ("None" if admin_password is None else admin_password),
        'DEMO_PAGE_INTRO_HTML = ""',
        "SECRET_KEY = %r" % secret,
        extra,
        "",
    ])


SETTINGS = settings_py('''[
    dict(name="rt_single", app_sequence=["rt_single"], num_demo_participants=2),
    dict(name="rt_classic", app_sequence=["rt_classic"], num_demo_participants=2),
]''', "tests6-secret-key")

PROBE = '''
"""Test probe: attach points of otree_redwood.otree6 seen from outside the process."""
import os

from starlette.responses import JSONResponse
from starlette.routing import Route

from otree_redwood.otree6 import attach

LOG = os.environ.get("RWPROBE_LOG", "rwprobe.log")


def _log(line):
    with open(LOG, "a") as f:
        f.write("%s %d\\n" % (line, os.getpid()))


def _started():
    _log("start")


async def _stopped():
    _log("stop")
    # a row written on stop shows, in devserver's saved file, that this ran
    # before oTree's save_sqlite_db
    from otree.database import db, session_scope
    from otree_redwood.otree6.tables import RedisNamespace

    with session_scope():
        db._db.execute(RedisNamespace.insert(), [{"key": "written-on-stop"}])


async def ensure(request):
    before = attach.is_started()
    await attach.ensure_started()
    await attach.ensure_started()
    return JSONResponse({"before": before, "after": attach.is_started()})


async def under_static(request):
    return JSONResponse({"probe": "ours"})


if not getattr(attach, "_rwprobe_registered", False):
    attach._rwprobe_registered = True
    attach.on_startup(_started)
    attach.on_shutdown(_stopped)
    attach.add_routes(
        Route("/rwprobe/ensure", ensure),
        # under oTree's /static Mount: reachable only if our routes come first
        Route("/static/otree-redwood/__probe__", under_static),
    )
'''

SINGLE = '''
from otree.api import *

import rwprobe  # noqa: F401
from otree_redwood.otree6.models import DecisionGroupColumns

doc = "single-file app on otree-redwood's bases"


class C(BaseConstants):
    NAME_IN_URL = "rt_single"
    PLAYERS_PER_GROUP = 2
    NUM_ROUNDS = 1


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroupColumns):
    pass


class Player(BasePlayer):
    pass


def period_length(group):
    return 30


class Decision(Page):
    pass


page_sequence = [Decision]
'''

SINGLE_TEMPLATE = '''{% extends "otree_redwood/Page.html" %}
{% block title %}Decision single{% endblock %}
{% block content %}<p id="app-marker">single</p>{{ next_button }}{% endblock %}
'''

CLASSIC_MODELS = '''
from otree.api import BaseConstants, BaseSubsession, BasePlayer

import rwprobe  # noqa: F401
from otree_redwood.otree6.models import GroupColumns


class Constants(BaseConstants):
    name_in_url = "rt_classic"
    players_per_group = 2
    num_rounds = 1


class Subsession(BaseSubsession):
    pass


class Group(GroupColumns):
    def period_length(self):
        return 45


class Player(BasePlayer):
    pass
'''

CLASSIC_PAGES = '''
from otree.api import Page


class Decision(Page):
    pass


page_sequence = [Decision]
'''

CLASSIC_TEMPLATE = SINGLE_TEMPLATE.replace("single", "classic")

BOT = '''
import json
import re

from otree.api import Bot, expect

from otree_redwood.otree6.token import check_token

from {pages} import Decision


class PlayerBot(Bot):
    def play_round(self):
        # no lifespan under `otree test`: nothing started until first use
        r = self.participant_bot.client.get("/rwprobe/ensure").json()
        expect(r["after"], True)
        with open("rwprobe-bot.log", "a") as f:
            f.write(json.dumps(r) + "\\n")
        o = json.loads(re.search(r"window\\.oTree = (\\{{.*?\\}});</script>", self.html).group(1))
        expect(o["participantCode"], self.participant.code)
        expect(check_token(o["socketToken"], self.participant.code, o["appName"], o["group"]["pk"]), True)
        others = [p["participantCode"] for p in o["group"]["players"] if p["participantCode"] != self.participant.code]
        expect(check_token(o["socketToken"], others[0], o["appName"], o["group"]["pk"]), False)
        yield Decision
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def otree_env(project, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTREE_")}
    env["PATH"] = str(VENV_BIN) + os.pathsep + env.get("PATH", "")
    env["RWPROBE_LOG"] = str(Path(project) / "rwprobe.log")
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def run_otree(project, *args, env=None, input=None, timeout=600):
    return subprocess.run(
        [OTREE, *args], cwd=str(project), env=env or otree_env(project), input=input,
        capture_output=True, text=True, timeout=timeout,
    )


def write_project(proj):
    """Our settings and apps into a project made by `otree startproject`."""
    files = {
        "settings.py": SETTINGS,
        "rwprobe.py": PROBE,
        "rt_single/__init__.py": SINGLE,
        "rt_single/Decision.html": SINGLE_TEMPLATE,
        "rt_single/tests.py": BOT.format(pages="."),
        "rt_classic/__init__.py": "",
        "rt_classic/models.py": CLASSIC_MODELS,
        "rt_classic/pages.py": CLASSIC_PAGES,
        "rt_classic/templates/rt_classic/Decision.html": CLASSIC_TEMPLATE,
        "rt_classic/tests.py": BOT.format(pages=".pages"),
    }
    for name, text in files.items():
        path = proj / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


@pytest.fixture(scope="session")
def project_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("otree6")
    r = run_otree(root, "startproject", "proj", env=otree_env(root), input="n\n")
    assert r.returncode == 0, r.stdout + r.stderr
    proj = root / "proj"
    assert (proj / "settings.py").is_file(), r.stdout + r.stderr
    write_project(proj)
    return proj


@pytest.fixture
def make_project(project_template, tmp_path):
    """A fresh copy of the project (each server type gets its own database)."""

    def make(name="proj"):
        dest = tmp_path / name
        shutil.copytree(project_template, dest)
        return dest

    return make


def resetdb(project, env=None):
    r = run_otree(project, "resetdb", "--noinput", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


class Server:
    """`otree prodserver` or `otree devserver` as a real process on a free port."""

    def __init__(self, project, kind="prodserver", env=None):
        self.project = Path(project)
        self.kind = kind
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log_path = self.project / ("%s.log" % kind)
        self.env = env or otree_env(project)
        addr = "127.0.0.1:%d" % self.port if kind == "prodserver" else str(self.port)
        self.log = open(self.log_path, "w")
        # own session: stop() signals the whole group (devserver's child,
        # prodserver's timeout worker) and nothing else
        self.proc = subprocess.Popen(
            [OTREE, kind, addr], cwd=str(self.project), env=self.env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._wait_up()

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def _wait_up(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and self.kind == "prodserver":
                raise AssertionError("server exited %s:\n%s" % (self.proc.returncode, self.output()))
            try:
                urllib.request.urlopen(self.base + "/static/otree/js/live.js", timeout=10).read()
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise AssertionError("server not up after %ss:\n%s" % (START_TIMEOUT, self.output()))

    def get(self, path, timeout=60):
        """(status, headers, body bytes) without raising on HTTP errors."""
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def post_json(self, path, data, timeout=120):
        req = urllib.request.Request(
            self.base + path, data=json.dumps(data).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read().decode() or "null")

    def create_session(self, config, n=2):
        code = self.post_json("/api/sessions", {"session_config_name": config, "num_participants": n})["code"]
        info = self.post_json("/api/get_session/%s" % code, {})
        return code, [p["code"] for p in info["participants"]]

    def page(self, participant_code):
        status, _, body = self.get("/InitializeParticipant/%s" % participant_code)
        assert status == 200, body[:2000]
        return body.decode()

    def stop(self, sig=None):
        if self.proc.poll() is None:
            sig = sig or (signal.SIGTERM if self.kind == "prodserver" else signal.SIGINT)
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
            except ProcessLookupError:
                pass
        # the group may outlive its leader (prodserver's timeout worker)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


def otree_json(html):
    """The window.oTree object a page sets."""
    m = re.search(r"<script>window\.oTree = (\{.*?\});</script>", html)
    assert m, "no window.oTree in the page:\n" + html[:3000]
    return json.loads(m.group(1))


def check_tokens(project, cases):
    """Run our verifier in the project's settings (its _SECRET): [(token, code, app, pk)] -> [bool]."""
    script = (
        "import json, sys\n"
        "from otree_redwood.otree6.token import check_token\n"
        "cases = json.load(sys.stdin)\n"
        "print(json.dumps([check_token(*c) for c in cases]))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=str(project), env=otree_env(project, PYTHONPATH=str(project)),
        input=json.dumps(cases), capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])
