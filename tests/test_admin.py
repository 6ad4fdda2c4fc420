"""Admin side: who may see the API, pages and event stream; the live feed; Django admin."""
import asyncio
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import textwrap
import urllib.error
import urllib.parse
import urllib.request

import pytest
import websockets

from tests import harness

APP = "decision_demo"
PASSWORD = "pw-redwood-test"


# ---------------------------------------------------------------- helpers

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """urllib with a cookie jar that does not follow redirects."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(self, path, data=None, headers=None):
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def cookie(self, name):
        for c in self.jar:
            if c.name == name:
                return c.value
        return None

    def cookie_header(self):
        return "; ".join("%s=%s" % (c.name, c.value) for c in self.jar)

    def login(self, username, password):
        status, _, body = self.request("/accounts/login/")
        assert status == 200, body[:500]
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
        form = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token}
        ).encode()
        return self.request(
            "/accounts/login/", data=form,
            headers={"Referer": self.base + "/accounts/login/",
                     "Content-Type": "application/x-www-form-urlencoded"},
        )


def ensure_admin(password):
    """The superuser ``otree resetdb`` makes from ADMIN_USERNAME/ADMIN_PASSWORD."""
    from django.contrib.auth.models import User

    user, _ = User.objects.get_or_create(username="admin")
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()


async def open_event_stream(server, session_code, cookie=None):
    """Connect to the admin event stream; returns (messages, close code)."""
    headers = {"Cookie": cookie} if cookie else {}
    url = "%s/redwood/events/session/%s/" % (server.ws_base, session_code)
    messages = []
    async with websockets.connect(url, extra_headers=headers, open_timeout=10) as sock:
        try:
            while True:
                messages.append(json.loads(await asyncio.wait_for(sock.recv(), 5)))
                if messages[-1].get("type") == "snapshot":
                    return messages, None
        except websockets.ConnectionClosed:
            return messages, sock.close_code


def paths(code):
    return {
        "api": "/redwood/api/events/session/%s/" % code,
        "monitor": "/redwood/monitor/session/%s/" % code,
        "debug": "/redwood/debug/session/%s/" % code,
        "export": "/redwood/export/events/?session=%s" % code,
        "sessions": "/redwood/sessions/",
    }


# ---------------------------------------------------------------- end to end

@pytest.mark.e2e
async def test_login_required_when_a_password_is_set(server, make_session):
    ensure_admin(PASSWORD)
    session, groups = make_session(APP, 2)
    srv = server(extra_env={"OTREE_PRODUCTION": "1", "OTREE_AUTH_LEVEL": "STUDY",
                            "OTREE_ADMIN_PASSWORD": PASSWORD})
    urls = paths(session.code)

    anonymous = Browser(srv.base)
    status, headers, body = anonymous.request(urls["api"])
    assert status == 403 and json.loads(body)["error"] == "admin login required"
    for name in ("monitor", "debug", "export", "sessions"):
        status, headers, _ = anonymous.request(urls[name])
        assert status == 302, name
        assert headers["Location"].startswith("/accounts/login/"), (name, headers["Location"])
    messages, code = await open_event_stream(srv, session.code)
    assert code == 4003
    assert not any(m.get("type") == "snapshot" for m in messages)
    assert messages and messages[0]["type"] == "error"

    # a wrong password does not help
    wrong = Browser(srv.base)
    status, _, _ = wrong.login("admin", "not-the-password")
    assert status == 200 and wrong.cookie("sessionid") is None
    assert wrong.request(urls["api"])[0] == 403

    admin = Browser(srv.base)
    status, headers, _ = admin.login("admin", PASSWORD)
    assert status == 302, "login should redirect"
    assert admin.cookie("sessionid")

    status, headers, body = admin.request(urls["api"])
    assert status == 200
    data = json.loads(body)
    (group_pk, _codes), = groups
    assert data == {APP: {str(group_pk): []}}
    status, _, body = admin.request(urls["monitor"])
    assert status == 200 and b'id="redwood-page-config"' in body and b"monitor" in body
    status, _, body = admin.request(urls["debug"])
    assert status == 200 and b'id="rw-replay"' in body
    status, headers, body = admin.request(urls["export"])
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert body.decode().splitlines()[0].startswith("session_code,app,round,group")
    status, _, body = admin.request(urls["sessions"])
    assert status == 200 and session.code.encode() in body
    messages, code = await open_event_stream(srv, session.code, cookie=admin.cookie_header())
    assert code is None
    snapshot = messages[-1]
    assert snapshot["type"] == "snapshot" and snapshot["session"] == session.code
    assert [(g["app"], g["group"]) for g in snapshot["groups"]] == [(APP, group_pk)]


@pytest.mark.e2e
async def test_open_without_auth_level_and_static_files_served(server, make_session):
    session, groups = make_session(APP, 2)
    srv = server()
    urls = paths(session.code)
    visitor = Browser(srv.base)
    for name in ("api", "monitor", "debug", "export", "sessions"):
        status, _, body = visitor.request(urls[name])
        assert status == 200, (name, body[:300])
    messages, code = await open_event_stream(srv, session.code)
    assert code is None and messages[-1]["type"] == "snapshot"
    # the pages' scripts and the vendored chart library are collected and served
    for path in ("/static/otree-redwood/admin/monitor.js", "/static/otree-redwood/admin/chart.js",
                 "/static/otree-redwood/admin/debug.js", "/static/otree-redwood/vendor/uplot/uPlot.esm.js"):
        status, _, body = visitor.request(path)
        assert status == 200 and len(body) > 500, path
    assert visitor.request("/redwood/monitor/session/nosuchsession/")[0] == 404


# ---------------------------------------------------------------- in process

async def _admin_socket(session_code):
    from channels.testing import WebsocketCommunicator
    from otree.channels.routing import application

    comm = WebsocketCommunicator(application, "/redwood/events/session/%s/" % session_code)
    connected, _ = await comm.connect(timeout=10)
    assert connected
    return comm


async def _next(comm, predicate, timeout=5, loads=json.loads):
    loop = asyncio.get_event_loop()
    deadline = loop.time() + timeout
    while True:
        out = await comm.receive_output(max(0.01, deadline - loop.time()))
        if out["type"] == "websocket.close":
            raise ConnectionError("closed with %s" % out.get("code"))
        msg = loads(out["text"])
        if predicate(msg):
            return msg


async def _wait_connection_row(code, timeout=5):
    """The socket is accepted before its connect phase stores the Connection row."""
    from asgiref.sync import sync_to_async

    from otree_redwood.models import Connection

    exists = sync_to_async(lambda: Connection.objects.filter(participant__code=code).exists(), thread_sensitive=True)
    loop = asyncio.get_event_loop()
    deadline = loop.time() + timeout
    while not await exists():
        assert loop.time() < deadline, "no Connection row for %s" % code
        await asyncio.sleep(0.02)


async def test_event_stream_snapshot_frames_and_reports(make_session, ws):
    session, groups = make_session(APP, 2)
    (group_pk, (a, b)), = groups
    await ws(APP, group_pk, a)
    await _wait_connection_row(a)
    comm = await _admin_socket(session.code)
    try:
        snap = await _next(comm, lambda m: m["type"] == "snapshot")
        g, = snap["groups"]
        assert (g["app"], g["group"], g["round"]) == (APP, group_pk, 1)
        assert [m["code"] for m in g["members"]] == [a, b]
        assert g["state"] is None and g["period_length"] == 60
        assert g["connected"] == [a]  # b has not connected yet

        cb = await ws(APP, group_pk, b)
        start = await _next(comm, lambda m: m["type"] == "frame" and m["frame"]["channel"] == "state")
        assert (start["app"], start["group"], start["frame"]["payload"]) == (APP, group_pk, "period_start")
        await cb.send("decisions", 0.9)
        frame = await _next(comm, lambda m: m["type"] == "frame" and m["frame"]["channel"] == "group_decisions"
                            and m["frame"]["payload"] == {a: 0.5, b: 0.9})
        assert frame["recipient"] is None and frame["frame"]["seq"] > 0

        gk = "%s:%s" % (APP, group_pk)
        report = await _next(comm, lambda m: m["type"] == "report"
                             and sorted(m["groups"].get(gk, {}).get("connected", [])) == sorted([a, b]),
                             timeout=5)
        assert "in_per_s" in report["groups"]["%s:%s" % (APP, group_pk)]

        # a second monitor sees the running period in its snapshot, with the chart's history
        comm2 = await _admin_socket(session.code)
        snap2 = await _next(comm2, lambda m: m["type"] == "snapshot")
        g2, = snap2["groups"]
        assert g2["state"] == "period_start"
        assert g2["end_ms"] == pytest.approx(g2["start_ms"] + 60000)
        assert g2["decisions"] == {a: 0.5, b: 0.9}
        assert [h[2] for h in g2["history"]][-1] == {a: 0.5, b: 0.9}
        assert sorted(g2["connected"]) == sorted([a, b])
        await comm2.disconnect()
    finally:
        await comm.disconnect()


async def test_event_stream_coalesces_bursts_of_maps(make_session, ws):
    from otree_redwood import admin_consumers

    session, groups = make_session(APP, 2)
    (group_pk, (a, b)), = groups
    ca = await ws(APP, group_pk, a)
    await ws(APP, group_pk, b)
    await ca.recv_until(lambda m: m["channel"] == "state")
    comm = await _admin_socket(session.code)
    await _next(comm, lambda m: m["type"] == "snapshot")
    for i in range(1, 61):
        await ca.send("decisions", i / 100.0)
    await ca.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == 0.6, timeout=10)
    maps = []
    while not maps or maps[-1] != 0.6:
        msg = await _next(comm, lambda m: m["type"] == "frame", timeout=5)
        maps.append(msg["frame"]["payload"][a])
    # the newest map always arrives; the burst is thinned out on the way
    assert len(maps) < 60
    assert maps == sorted(maps)
    assert admin_consumers.FRAME_INTERVAL > 0
    await comm.disconnect()


async def test_event_stream_refused_without_login_when_required(make_session, settings):
    session, _groups = make_session(APP, 2)
    settings.AUTH_LEVEL = "STUDY"
    from channels.testing import WebsocketCommunicator
    from otree.channels.routing import application

    comm = WebsocketCommunicator(application, "/redwood/events/session/%s/" % session.code)
    await comm.connect(timeout=10)
    first = json.loads((await comm.receive_output(5))["text"])
    assert first == {"type": "error", "reason": "admin login required", "close_code": 4003}
    closed = await comm.receive_output(5)
    assert closed == {"type": "websocket.close", "code": 4003}
    await comm.disconnect()
    settings.AUTH_LEVEL = None
    comm = WebsocketCommunicator(application, "/redwood/events/session/nosuch/")
    await comm.connect(timeout=10)
    await comm.receive_output(5)
    assert (await comm.receive_output(5)) == {"type": "websocket.close", "code": 4004}
    await comm.disconnect()


def test_access_rule_mirrors_otree(settings):
    from django.contrib.auth.models import AnonymousUser, User

    from otree_redwood import views

    staff = User(username="x", is_staff=True)
    for level, anonymous_ok in ((None, True), ("", True), ("DEMO", False), ("STUDY", False)):
        settings.AUTH_LEVEL = level
        assert views.admin_allowed(AnonymousUser()) is anonymous_ok
        assert views.admin_allowed(staff) is True
        assert views.admin_allowed(User(username="y", is_staff=False)) is anonymous_ok


# ---------------------------------------------------------------- Django admin

def test_admin_module_is_inert_without_django_admin():
    from django.apps import apps

    assert not apps.is_installed("django.contrib.admin")
    import otree_redwood.admin as redwood_admin

    assert redwood_admin.registered is False


def test_admin_registration_with_django_admin(tmp_path):
    """A project that installs django.contrib.admin gets Event and Connection in it."""
    (tmp_path / "settings_with_admin.py").write_text(
        "from settings import *\nINSTALLED_APPS = ['otree', 'django.contrib.admin']\n"
    )
    script = textwrap.dedent("""
        import sys
        sys.path[:0] = [%r, %r, %r]
        from otree_startup import configure_settings
        configure_settings('settings_with_admin')
        import django
        django.setup()
        from django.contrib import admin
        from otree_redwood.models import Connection, Event
        import otree_redwood.admin as ra
        assert ra.registered
        ea = admin.site._registry[Event]
        ca = admin.site._registry[Connection]
        assert {'channel', 'participant', 'group_pk'} <= set(ea.list_filter), ea.list_filter
        assert 'participant__code' in ea.search_fields
        assert 'participant__code' in ca.search_fields
        print('ok')
    """ % (str(tmp_path), harness.EXAMPLE, harness.ROOT))
    env = dict(os.environ, DATABASE_URL="sqlite:///" + str(tmp_path / "db.sqlite3"))
    out = subprocess.run([sys.executable, "-c", script], cwd=harness.EXAMPLE, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
