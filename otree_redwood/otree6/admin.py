"""The admin's side of otree-redwood on oTree 6, at the oTree 3 addresses.

- ``/redwood/monitor/session/<code>/``: live monitor (static admin/monitor.js
  and start-now.js, unchanged); ``/redwood/debug/session/<code>/``: replay
  (admin/debug.js).  Both are oTree's own ``AdminSessionPage`` views, so they
  get oTree's session tabs, its login redirect and its CSRF token.
- ``/redwood/api/events/session/<code>/``: the events JSON API
  (``{app: {group_pk: [message, ...]}}``, oldest first per group).
- ``/redwood/monitor/session/<code>/start/`` (POST): the monitor's "Start now".
- ``/redwood/export/events/`` (``?session=<code>``, ``?safe=1``) and
  ``/redwood_export_<app>/`` (also ``/redwood/export/app/<app>/``): the events
  CSV and an app's ``get_output_table`` CSV, streamed: each chunk is read
  under one hold of oTree's ``lock2`` and sent before the next is read, so a
  200,000-event export neither holds the whole file nor stops the server.
- ``/redwood/events/session/<code>/`` (WebSocket): the monitor's live feed
  (a snapshot from the database, then the Redis reports and bus frames).

Who may see them follows oTree 6's own admin (``urls.py``): with
``OTREE_AUTH_LEVEL`` ``STUDY`` or ``DEMO``, only a browser whose session holds
oTree's admin cookie (``session[AUTH_COOKIE_NAME] == AUTH_COOKIE_VALUE``,
set by ``/login``); pages redirect to oTree's login, the API and POST answer
403, the socket is accepted then closed with 4003.  Without an auth level
they are open, like oTree's admin pages.

oTree internals: ``views/cbv.py`` ``AdminSessionPage`` (``inner_dispatch``
loads ``self.session`` from the ``code`` path parameter, ``get_context_data``,
``_is_logged_in``, ``get_template_name``); ``common.py`` ``AUTH_COOKIE_NAME``,
``AUTH_COOKIE_VALUE``, ``CSRF_TOKEN_NAME``; ``settings.AUTH_LEVEL``;
``middleware.py`` ``CommitTransactionMiddleware`` (HTTP handlers run under
``lock2`` with a session open, until the response's headers are out).
"""
import asyncio
import json
import logging

import sqlalchemy as sa
from starlette.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute

from ..engine import conf, eventrows, keys, protocol
from ..engine.clock import epoch_ms, from_epoch_ms
from ..engine.monitorfeed import MonitorFeed
from . import attach, exports
from . import host as _host
from .tables import Connection, Event

logger = logging.getLogger(__name__)

#: group_decisions maps in the monitor's snapshot, per group (running / ended period).
HISTORY_LIMIT = 2000
ENDED_HISTORY_LIMIT = 300
#: Events per JSON piece (and per hold of lock2) of the events API.
JSON_CHUNK = 2000


def _db():
    from otree.database import db

    return db._db


# ---------------------------------------------------------------- access

def login_required():
    """oTree 6's rule: its admin pages need the login iff AUTH_LEVEL is STUDY or DEMO."""
    from otree import settings

    return getattr(settings, "AUTH_LEVEL", None) in ("STUDY", "DEMO")


def is_admin(session):
    from otree.common import AUTH_COOKIE_NAME, AUTH_COOKIE_VALUE

    return session.get(AUTH_COOKIE_NAME) == AUTH_COOKIE_VALUE


def allowed(conn):
    """``conn``: a Starlette Request or WebSocket (oTree's SessionMiddleware serves both)."""
    if not login_required():
        return True
    try:
        return is_admin(conn.session)
    except AssertionError:  # no session middleware in front: refuse
        return False


def _refused_api():
    return JSONResponse({"error": "admin login required", "login_url": "/login"}, status_code=403)


def _to_login(request):
    return RedirectResponse(request.url_for("Login"), status_code=302)


def _session_or_none(code):
    from otree.models import Session

    return _db().query(Session).filter(Session.code == code).first()


# ---------------------------------------------------------------- lookups

def session_groups(session_id):
    """[(app_name, Group class, [groups])] of one session, groups by round and id."""
    out = []
    for app_name, model in exports.redwood_apps():
        groups = (_db().query(model).filter(model.session_id == session_id)
                  .order_by(model.round_number, model.id_in_subsession, model.id).all())
        if groups:
            out.append((app_name, model, groups))
    return out


def group_rows(session_id):
    """Plain description of each real-time group of a session (replay page, snapshot)."""
    from otree.models import Participant

    rows = []
    for app_name, _model, groups in session_groups(session_id):
        player = getattr(_host.models_module(app_name), "Player", None)
        members = {}
        if player is not None:
            q = (_db().query(player.group_id, player.id_in_group, Participant.code)
                 .join(Participant, Participant.id == player.participant_id)
                 .filter(player.session_id == session_id).order_by(player.group_id, player.id_in_group))
            for gid, idg, code in q:
                members.setdefault(gid, []).append({"code": code, "id_in_group": idg})
        for g in groups:
            rows.append({
                "app": app_name, "group": g.id, "round": g.round_number, "id_in_subsession": g.id_in_subsession,
                "members": members.get(g.id, []),
                "period_length": exports.call_hook(g, "period_length"),
                "num_subperiods": exports.call_hook(g, "num_subperiods"),
            })
    return rows


def page_config(code, with_groups, session_id):
    page = {
        "session": code,
        "apiUrl": "/redwood/api/events/session/%s/" % code,
        "socketPath": "/redwood/events/session/%s/" % code,
        "monitorUrl": "/redwood/monitor/session/%s/" % code,
        "debugUrl": "/redwood/debug/session/%s/" % code,
        "exportUrl": "/redwood/export/events/?session=%s" % code,
        "intervalMs": int(float(conf.get("MONITOR_INTERVAL")) * 1000),
    }
    if with_groups:
        page["groups"] = group_rows(session_id)
    return page


def json_script(element_id, obj):
    """``<script type="application/json">`` that no stored text can break out of."""
    text = protocol.safe_dumps(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return '<script type="application/json" id="%s">%s</script>' % (element_id, text)


# ---------------------------------------------------------------- pages

def _admin_session_page():
    from otree.views.cbv import AdminSessionPage

    return AdminSessionPage


def _page_class(name, template, tab, with_groups):
    from otree.common import CSRF_TOKEN_NAME

    base = _admin_session_page()

    def _is_unauthorized(self):
        return login_required() and not self._is_logged_in()

    def get_template_name(self):
        return template

    def vars_for_template(self):
        page = page_config(self.session.code, with_groups, self.session.id)
        csrf = self.request.session.get(CSRF_TOKEN_NAME, "")
        return {
            "redwood_tab": tab,
            "redwood_page": page,
            "redwood_config_script": json_script("redwood-page-config", page),
            # start-now.js reads the token under Django's field name (unchanged JS)
            "redwood_csrf_input": '<input type="hidden" name="csrfmiddlewaretoken" value="%s">' % csrf,
        }

    return type(name, (base,), {
        "_is_unauthorized": _is_unauthorized, "get_template_name": get_template_name,
        "vars_for_template": vars_for_template, "__module__": __name__,
    })


# ---------------------------------------------------------------- events JSON API

def _group_events_chunk(app_name, pk, after, limit, value_text=True):
    e = exports._EventText.c
    q = sa.select([e.id, e.timestamp, e.participant_id, e.channel, e.value]).where(
        e.app_name == app_name).where(e.group_pk == pk)
    if after is not None:
        q = q.where(sa.or_(e.timestamp > after[0], sa.and_(e.timestamp == after[0], e.id > after[1])))
    return _db().execute(q.order_by(e.timestamp, e.id).limit(limit)).fetchall()


def _api_prepare(code):
    from otree.models import Participant, Session

    session = _db().query(Session).filter(Session.code == code).first()
    if session is None:
        return None
    codes = dict(_db().query(Participant.id, Participant.code).filter(Participant.session_id == session.id))
    return codes, [(app, [g.id for g in groups]) for app, _m, groups in session_groups(session.id)]


def _json_piece(app_name, pk, after, codes):
    rows = _group_events_chunk(app_name, pk, after, JSON_CHUNK)
    parts = []
    for _id, ts, pid, channel, value in rows:
        code = codes.get(pid) if pid is not None else None
        if pid is not None and code is None:
            from otree.models import Participant

            found = _db().query(Participant.code).filter(Participant.id == pid).first()
            code = codes[pid] = found[0] if found else None
        parts.append('{"timestamp":%s,"group":%d,"participant":%s,"channel":%s,"value":%s}' % (
            json.dumps(epoch_ms(ts)), pk, json.dumps(code), json.dumps(channel),
            "null" if value is None else protocol.strict_json_text(value)))
    last = (rows[-1][1], rows[-1][0]) if rows else None
    return ",".join(parts), last, len(rows) == JSON_CHUNK


async def _json_body(codes, apps):
    yield "{"
    for i, (app_name, pks) in enumerate(apps):
        yield ("," if i else "") + json.dumps(app_name) + ":{"
        for j, pk in enumerate(pks):
            yield ("," if j else "") + json.dumps(str(pk)) + ":["
            after, first, more = None, True, True
            while more:
                text, after, more = await _host.run_locked(_json_piece, app_name, pk, after, codes)
                if text:
                    yield ("" if first else ",") + text
                    first = False
            yield "]"
        yield "}"
    yield "}"


async def events_api(request):
    if not allowed(request):
        return _refused_api()
    # the middleware holds lock2 and a session until our headers are out:
    # read the lookups now, stream the events under our own holds afterwards
    found = _api_prepare(request.path_params["code"])
    if found is None:
        return JSONResponse({"error": "no session %s" % request.path_params["code"]}, status_code=404)
    codes, apps = found
    return StreamingResponse(_encoded(_json_body(codes, apps)), media_type="application/json")


async def _encoded(pieces):
    async for piece in pieces:
        yield piece.encode("utf-8")


# ---------------------------------------------------------------- start now

def _start_now(session_id, app_name, group_pk):
    from ..engine import absent

    model = _host.group_model(app_name)
    if model is None:
        return 404, {"error": "no real-time app %r" % app_name}
    group = _db().query(model).filter(model.id == group_pk).first()
    if group is None or group.session_id != session_id:
        return 404, {"error": "no group %r in app %r of this session" % (group_pk, app_name)}
    if not absent.request_start(app_name, group_pk, reason="admin"):
        return 200, {"scheduled": False, "reason": "the period has already started"}
    return 200, {"scheduled": True}


async def start_now_api(request):
    from otree.common import CSRF_TOKEN_NAME

    if not allowed(request):
        return _refused_api()
    form = await request.form()
    token = request.headers.get("x-csrftoken") or form.get("csrfmiddlewaretoken") or form.get(CSRF_TOKEN_NAME)
    expected = request.session.get(CSRF_TOKEN_NAME)
    if not expected or token != expected:
        return JSONResponse({"error": "CSRF verification failed"}, status_code=403)
    session = _session_or_none(request.path_params["code"])
    if session is None:
        return JSONResponse({"error": "no session"}, status_code=404)
    try:
        group_pk = int(form.get("group", ""))
    except ValueError:
        return JSONResponse({"error": "POST app=<app name>&group=<group pk>"}, status_code=404)
    status, body = _start_now(session.id, form.get("app", ""), group_pk)
    return JSONResponse(body, status_code=status)


# ---------------------------------------------------------------- streamed CSVs

def _csv_response(pieces, filename):
    async def body():
        async for piece in pieces:
            yield piece.encode("utf-8")

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="%s"' % filename.replace('"', "")})


async def _stream_rows(prepare, next_rows, safe):
    """CSV pieces: ``prepare()`` then ``next_rows()`` until empty, each under one hold of lock2."""
    header = await _host.run_locked(prepare)
    if header:
        for piece in eventrows.csv_pieces([header], safe=safe):
            yield piece
    while True:
        rows = await _host.run_locked(next_rows)
        if rows is None:
            return
        for piece in eventrows.csv_pieces(rows, safe=safe):
            yield piece


def _session_filter(request):
    code = request.query_params.get("session") or None
    if code is None:
        return None, None
    session = _session_or_none(code)
    return code, (None if session is None else [session.id])


def _today():
    import datetime

    return datetime.date.today().isoformat()


async def events_csv(request):
    if not allowed(request):
        return _to_login(request)
    code, ids = _session_filter(request)
    if code is not None and ids is None:
        return JSONResponse({"error": "no session %s" % code}, status_code=404)
    safe = eventrows.safe_flag(request.query_params.get("safe"), conf.get("CSV_FORMULA_SAFE"))
    reader = exports.EventRows(ids)

    def prepare():
        reader.prepare()
        return list(eventrows.EVENT_COLUMNS)

    def next_rows():
        rows = reader.chunk()
        return rows or None

    name = "Redwood events%s (accessed %s).csv" % (" " + code if code else "", _today())
    return _csv_response(_stream_rows(prepare, next_rows, safe), name)


async def app_csv(request):
    if not allowed(request):
        return _to_login(request)
    app_name = request.path_params["app_name"]
    code, ids = _session_filter(request)
    if code is not None and ids is None:
        return JSONResponse({"error": "no session %s" % code}, status_code=404)
    if _host.group_model(app_name) is None or exports.find_table_hooks(app_name)[0] is None:
        return JSONResponse({"error": "%s has no get_output_table" % app_name}, status_code=404)
    safe = eventrows.safe_flag(request.query_params.get("safe"), conf.get("CSV_FORMULA_SAFE"))
    table = exports.OutputTable(app_name, ids)
    todo = []

    def prepare():
        header = table.prepare()
        todo.extend(reversed(table.group_ids))
        return header

    def next_rows():
        # a group at a time: the app's get_output_table runs with a session open
        while todo:
            rows = table.rows_of(todo.pop())
            if rows:
                return rows
        return None

    return _csv_response(_stream_rows(prepare, next_rows, safe), "%s_Events (accessed %s).csv" % (app_name, _today()))


# ---------------------------------------------------------------- admin socket

def build_snapshot(code):
    """The stored state of every real-time group of a session, or None (no such session)."""
    session = _session_or_none(code)
    if session is None:
        return None
    from otree.models import Participant

    connected = {c for (c,) in _db().query(Participant.code).join(
        Connection, Connection.c.participant_id == Participant.id).filter(Participant.session_id == session.id)}
    rows = group_rows(session.id)
    by_key = {(r["app"], r["group"]): r for r in rows}
    for app_name, _model, groups in session_groups(session.id):
        for g in groups:
            row = by_key[(app_name, g.id)]
            try:
                _fill_row(row, app_name, g, connected)
            except Exception:
                # one group's unreadable data must not cost the admin every other group
                logger.exception("redwood monitor: could not read the state of %s group %s", app_name, g.id)
                row.update({"state": None, "state_ms": None, "start_ms": None, "end_ms": None, "seq": 0,
                            "connected": [], "decisions": None, "history": [],
                            "error": "could not read this group's stored state"})
    return {"type": "snapshot", "session": code, "server_ts": protocol.now_ms(),
            "interval_ms": int(float(conf.get("MONITOR_INTERVAL")) * 1000), "groups": rows}


def _fill_row(row, app_name, g, connected):
    from .groupcolumns import DecisionGroupColumns

    e = Event.c
    mine = sa.and_(e.app_name == app_name, e.group_pk == g.id)
    states = _db().execute(sa.select([e.timestamp, e.value]).where(mine).where(e.channel == "state")
                           .order_by(e.timestamp, e.id)).fetchall()
    state = state_ms = start_ms = None
    for ts, value in states:
        state, state_ms = value, epoch_ms(ts)
        if value == protocol.STATE_PERIOD_START:
            start_ms = state_ms
    row["state"], row["state_ms"], row["start_ms"] = state, state_ms, start_ms
    length = row["period_length"]
    row["end_ms"] = (state_ms if state == protocol.STATE_PERIOD_END
                     else (start_ms + float(length) * 1000.0 if start_ms and length else None))
    row["seq"] = _db().execute(sa.select([sa.func.max(e.seq)]).where(mine)).scalar() or 0
    row["connected"] = sorted(m["code"] for m in row["members"] if m["code"] in connected)
    is_decision = isinstance(g, DecisionGroupColumns)
    row["decisions"] = g.field_maybe_none("group_decisions") if is_decision else None
    history = []
    if start_ms is not None and is_decision:
        limit = HISTORY_LIMIT if state == protocol.STATE_PERIOD_START else ENDED_HISTORY_LIMIT
        newest = _db().execute(
            sa.select([e.timestamp, e.seq, e.value]).where(mine).where(e.channel == "group_decisions")
            .where(e.timestamp >= from_epoch_ms(start_ms - 1)).order_by(e.timestamp.desc(), e.id.desc())
            .limit(limit)).fetchall()
        history = [[epoch_ms(ts), seq, value] for ts, seq, value in reversed(newest)]
    row["history"] = history


def _send_text(ws):
    async def send(text):
        await ws.send_text(text)
    return send


async def admin_socket(ws):
    await ws.accept()
    send = _send_text(ws)

    async def refuse(code, reason):
        await send(json.dumps({"type": "error", "reason": reason, "close_code": code}))
        await ws.close(code=code)

    if not allowed(ws):
        logger.warning("refused anonymous access to the redwood admin stream")
        await refuse(protocol.CLOSE_FORBIDDEN, "admin login required")
        return
    code = ws.path_params["code"]
    redis = pubsub = None
    tasks = []
    try:
        # keys carry the database's namespace (read from the database)
        await _host.run_locked(keys.namespace)
        import redis.asyncio as aredis

        from ..engine import redis_conn

        redis = aredis.Redis.from_url(redis_conn.redis_url())
        pubsub = redis.pubsub()
        mon_channel = keys.session_monitor(code)
        bus_prefix = keys.session_bus_prefix(code)
        # subscribe before reading the database: nothing falls in between
        await pubsub.subscribe(mon_channel)
        await pubsub.psubscribe(bus_prefix + "*")
        snapshot = await _host.run_locked(build_snapshot, code)
        if snapshot is None:
            await refuse(protocol.CLOSE_NOT_FOUND, "no session %s" % code)
            return
        await send(protocol.safe_dumps(snapshot))
        feed = MonitorFeed(send, mon_channel, bus_prefix)
        tasks = [asyncio.ensure_future(feed.reader(pubsub)), asyncio.ensure_future(feed.flusher())]
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
            text = msg.get("text")
            # the monitor only listens; a ping keeps proxies from closing the socket
            if text and '"ping"' in text:
                await send(json.dumps({"type": "pong", "server_ts": protocol.now_ms()}))
    except Exception:
        logger.exception("redwood monitor of %s failed", code)
        try:
            await refuse(protocol.CLOSE_SERVER_ERROR, "server error")
        except Exception:
            pass
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for closer in (pubsub, redis):
            if closer is not None:
                try:
                    await closer.aclose()
                except Exception:
                    pass


# ---------------------------------------------------------------- routes

_CODE = "{code}"


def _routes():
    monitor = _page_class("RedwoodMonitor", "otree_redwood/admin6/monitor.html", "monitor", False)
    replay = _page_class("RedwoodReplay", "otree_redwood/admin6/debug.html", "replay", True)
    return [
        Route("/redwood/api/events/session/%s/" % _CODE, events_api, name="redwood_events_json_api"),
        Route("/redwood/monitor/session/%s/" % _CODE, monitor, name="redwood_monitor"),
        Route("/redwood/debug/session/%s/" % _CODE, replay, name="redwood_debug"),
        Route("/redwood/monitor/session/%s/start/" % _CODE, start_now_api, methods=["POST"],
              name="redwood_start_now"),
        Route("/redwood/export/events/", events_csv, name="redwood_export_events"),
        Route("/redwood_export_{app_name}/", app_csv, name="redwood_export_app"),
        Route("/redwood/export/app/{app_name}/", app_csv, name="redwood_export_app_redwood"),
        WebSocketRoute("/redwood/events/session/%s/" % _CODE, admin_socket),
    ]


# at attach: oTree's view classes are imported once oTree's app is being built,
# not while init_orm() imports the apps
attach.on_attach(lambda app: attach.add_routes(*_routes()))
