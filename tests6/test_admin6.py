"""Admin pages on oTree 6 behind oTree's admin login: monitor, replay, JSON API, admin socket.

The same played session as test_exports6 (prodserver, OTREE_AUTH_LEVEL=STUDY,
real Redis).  Anonymous visitors are refused (pages redirect to oTree's
login, the API answers 403, the socket closes with 4003); after oTree's
/login the pages render our admin JS with the page config it reads, the JSON
API returns the stored events and the socket sends the snapshot.
"""
import asyncio
import json
import re
import urllib.error
import urllib.request

import pytest
import websockets

from test_exports6 import login, stored_events
from test_exports6 import played, redis_url  # noqa: F401  (fixtures, used by name)

WAIT = 120


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def anonymous(server, path):
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(server.base + path, timeout=120) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.mark.parametrize("path", ["/redwood/monitor/session/{code}/", "/redwood/debug/session/{code}/",
                                  "/redwood/export/events/?session={code}", "/redwood_export_rt_dec/"])
def test_pages_send_anonymous_visitors_to_otrees_login(played, path):  # noqa: F811
    server, code, _ = played
    status, headers, _ = anonymous(server, path.format(code=code))
    assert status == 302 and headers["Location"].endswith("/login")


def test_api_refuses_anonymous_and_start_now_without_csrf(played):  # noqa: F811
    server, code, _ = played
    status, _, body = anonymous(server, "/redwood/api/events/session/%s/" % code)
    assert status == 403 and json.loads(body)["error"] == "admin login required"
    opener = login(server)
    req = urllib.request.Request(server.base + "/redwood/monitor/session/%s/start/" % code,
                                 data=b"app=rt_dec&group=1", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(req, timeout=120)
    assert e.value.code == 403  # logged in, but no CSRF token


def _config(html):
    m = re.search(r'<script type="application/json" id="redwood-page-config">(.*?)</script>', html, re.S)
    assert m, html[:3000]
    return json.loads(m.group(1))


def test_monitor_and_replay_render_our_admin_js_after_login(played):  # noqa: F811
    server, code, objs = played
    opener = login(server)
    html = opener.open(server.base + "/redwood/monitor/session/%s/" % code, timeout=120).read().decode()
    assert "/static/otree-redwood/admin/monitor.js" in html and "/static/otree-redwood/admin/start-now.js" in html
    assert 'id="rw-groups"' in html and 'name="csrfmiddlewaretoken"' in html
    assert "SessionMonitor" in html  # oTree's own session tabs are kept
    config = _config(html)
    assert config["socketPath"] == "/redwood/events/session/%s/" % code
    assert config["apiUrl"] == "/redwood/api/events/session/%s/" % code
    html = opener.open(server.base + "/redwood/debug/session/%s/" % code, timeout=120).read().decode()
    assert "/static/otree-redwood/admin/debug.js" in html
    (group,) = _config(html)["groups"]
    assert group["app"] == "rt_dec" and group["group"] == objs[0]["group"]["pk"]
    assert sorted(m["code"] for m in group["members"]) == sorted(o["participantCode"] for o in objs)
    # the JS files the pages load are served
    for name in ("monitor.js", "start-now.js", "debug.js", "chart.js", "admin.css"):
        assert opener.open(server.base + "/static/otree-redwood/admin/" + name, timeout=120).status == 200


def test_json_api_returns_the_stored_events(played):  # noqa: F811
    server, code, objs = played
    opener = login(server)
    data = json.loads(opener.open(server.base + "/redwood/api/events/session/%s/" % code, timeout=120).read())
    pk = str(objs[0]["group"]["pk"])
    assert list(data) == ["rt_dec"] and list(data["rt_dec"]) == [pk]
    events = data["rt_dec"][pk]
    stored = stored_events(server, code)
    assert [(e["channel"], e["value"], e["participant"]) for e in events] == [
        (channel, json.loads(value), pcode) for channel, value, _seq, pcode, _g in stored]
    assert all(e["group"] == int(pk) and e["timestamp"] > 0 for e in events)


async def _socket_frames(server, code, cookie=None):
    url = "ws://127.0.0.1:%d/redwood/events/session/%s/" % (server.port, code)
    headers = {"Cookie": cookie} if cookie else {}
    async with websockets.connect(url, open_timeout=WAIT, extra_headers=headers) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        try:
            await asyncio.wait_for(ws.recv(), WAIT)
        except websockets.ConnectionClosed as exc:
            return first, exc.code
        return first, None


def test_admin_socket_refuses_anonymous_and_sends_the_snapshot_after_login(played):  # noqa: F811
    server, code, objs = played
    first, closed = asyncio.run(_socket_frames(server, code))
    assert first["type"] == "error" and closed == 4003
    opener = login(server)
    jar = next(h for h in opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor)).cookiejar
    cookie = "; ".join("%s=%s" % (c.name, c.value) for c in jar)

    async def snapshot():
        url = "ws://127.0.0.1:%d/redwood/events/session/%s/" % (server.port, code)
        async with websockets.connect(url, open_timeout=WAIT, extra_headers={"Cookie": cookie}) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), WAIT))

    snap = asyncio.run(snapshot())
    assert snap["type"] == "snapshot" and snap["session"] == code
    (group,) = snap["groups"]
    a, b = objs[0]["participantCode"], objs[1]["participantCode"]
    assert group["state"] == "period_end" and group["decisions"] == {a: 0.75, b: 0.25}
    assert group["history"][-1][2] == {a: 0.75, b: 0.25}
