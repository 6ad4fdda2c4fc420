"""Data exports on oTree 6: the events CSV and each app's output table.

oTree 6's Data page lists, per app, every callable of the app's models module
whose name starts with ``custom_export`` (``otree/export.py``
``get_custom_export_functions``), and downloads one by calling it with the
app's players (``custom_export_app``: the rows go through ``csv.writer`` into
a ``StringIO``).  :func:`install` puts two such functions on each real-time
app's models module when we attach to oTree's app, so an app needs no code:

- ``custom_export_redwood_events(players)``: the tidy events CSV of oTree 3
  (engine/eventrows.py: same columns, same order, oldest first) for this
  app's events in the sessions of ``players``;
- ``custom_export_redwood_output_table(players)``, only for an app that
  defines 0.9.x's ``get_output_table(events)`` (and usually
  ``get_output_table_header(groups)``) in its models module, ``pages.py`` or
  ``views.py``.

oTree builds the whole file in memory and sends it in one socket message
(``channels/consumers.py`` ``WSExportData``), on the event loop under
``lock2``: nothing else runs meanwhile.  Our functions return generators that
read the events a chunk at a time, but oTree keeps every row anyway
(``str_rows``), so for big sessions the streamed downloads of admin.py
(``/redwood/export/events/``, ``/redwood_export_<app>/``) are the ones to use:
they read a chunk per hold of ``lock2`` and send it before reading the next.

oTree internals: ``otree/export.py`` (``get_custom_export_functions``,
``custom_export_app``), ``otree/common.py`` ``get_models_module``,
``otree/settings.py`` ``OTREE_APPS``, ``otree/models`` ``Session`` and
``Participant`` (tables ``otree_session``, ``otree_participant``).
"""
import importlib
import importlib.util
import logging

import sqlalchemy as sa

from ..engine import conf, eventrows
from . import attach
from . import host as _host
from .sqltypes import UTCDateTime

logger = logging.getLogger(__name__)

#: Events read per query (and per hold of lock2 on the streamed route).
CHUNK_SIZE = 5000

EVENTS_EXPORT = "custom_export_redwood_events"
TABLE_EXPORT = "custom_export_redwood_output_table"

# the Event table with its value as plain TEXT: the stored JSON goes into the
# CSV as it is, never decoded and encoded again
_EventText = sa.table(
    "otree_redwood_event",
    sa.column("id", sa.Integer), sa.column("timestamp", UTCDateTime()), sa.column("session_id", sa.Integer),
    sa.column("app_name", sa.String), sa.column("group_pk", sa.Integer), sa.column("channel", sa.String),
    sa.column("participant_id", sa.Integer), sa.column("value", sa.Text), sa.column("seq", sa.BigInteger),
    sa.column("recipient_id", sa.Integer),
)


def _db():
    from otree.database import db

    return db._db


def redwood_apps():
    """[(app_name, Group class)] of the project's apps whose Group is a redwood Group."""
    from otree import settings

    found = []
    for app_name in getattr(settings, "OTREE_APPS", ()):
        model = _host.group_model(app_name)
        if model is not None:
            found.append((app_name, model))
    return found


def call_hook(group, name):
    """``group.<name>()`` or None when it is missing or raises (an export never fails on it)."""
    fn = getattr(group, name, None)
    if not callable(fn):
        return None
    try:
        return fn()
    except Exception:
        logger.warning("%s.%s() raised; treated as None", type(group).__name__, name, exc_info=True)
        return None


def session_ids_of_codes(codes):
    from otree.models import Session

    return [r[0] for r in _db().query(Session.id).filter(Session.code.in_(list(codes)))]


class EventRows:
    """The events CSV's rows, read a chunk at a time (sync: call inside a session scope).

    ``session_ids``: None for every session; ``apps``: None for every
    real-time app.  :meth:`prepare` loads what the rows need besides the
    events (sessions, groups, players, participants: a few queries per app,
    never one per event); :meth:`chunk` reads the next events after the last
    one returned, ordered by (timestamp, id) as on oTree 3.  Each chunk is its
    own query (keyset), so a caller may release oTree's lock between chunks.
    """

    def __init__(self, session_ids=None, apps=None):
        self.session_ids = None if session_ids is None else sorted(set(session_ids))
        self.apps = None if apps is None else list(apps)
        self.after = None  # (timestamp, id) of the last event read
        self.counters = {}
        self.done = False

    def prepare(self):
        from otree.models import Participant, Session

        only = self._filter_sessions
        apps = [(a, m) for a, m in redwood_apps() if self.apps is None or a in self.apps]
        if self.apps is not None:
            self.apps = [a for a, _ in apps]
        self.sessions = dict(only(_db().query(Session.id, Session.code), Session.id))
        self.groups, self.specs, self.id_in_group = {}, {}, {}
        for app_name, model in apps:
            for g in only(_db().query(model), model.session_id):
                self.groups[(app_name, g.id)] = (self.sessions.get(g.session_id, ""), g.round_number,
                                                 g.id_in_subsession)
                spec = eventrows.subperiod_spec(call_hook(g, "num_subperiods"), call_hook(g, "period_length"))
                if spec is not None:
                    self.specs[(app_name, g.id)] = spec
            player = getattr(_host.models_module(app_name), "Player", None)
            if player is not None:
                q = _db().query(player.participant_id, player.group_id, player.id_in_group)
                for pid, gid, idg in only(q, player.session_id):
                    self.id_in_group[(app_name, gid, pid)] = idg
        self.codes = dict(only(_db().query(Participant.id, Participant.code), Participant.session_id))
        return self

    def _filter_sessions(self, query, column):
        return query if self.session_ids is None else query.filter(column.in_(self.session_ids))

    def code(self, participant_id):
        if participant_id is None:
            return ""
        code = self.codes.get(participant_id)
        if code is None:
            # a participant of another session (exporting one session)
            from otree.models import Participant

            row = _db().query(Participant.code).filter(Participant.id == participant_id).first()
            code = self.codes[participant_id] = row[0] if row else ""
        return code

    def _query(self, limit):
        e = _EventText.c
        q = sa.select([e.id, e.timestamp, e.app_name, e.group_pk, e.channel, e.participant_id, e.seq,
                       e.recipient_id, e.value])
        if self.session_ids is not None:
            q = q.where(e.session_id.in_(self.session_ids))
        if self.apps is not None:
            q = q.where(e.app_name.in_(self.apps))
        if self.after is not None:
            ts, last_id = self.after
            q = q.where(sa.or_(e.timestamp > ts, sa.and_(e.timestamp == ts, e.id > last_id)))
        return q.order_by(e.timestamp, e.id).limit(limit)

    def chunk(self, size=CHUNK_SIZE):
        """The next rows (at most ``size``); an empty list once every event was read."""
        if self.done:
            return []
        found = _db().execute(self._query(size)).fetchall()
        if len(found) < size:
            self.done = True
        out = []
        for (eid, ts, app, group_pk, channel, pid, seq, rid, value) in found:
            key = (app, group_pk)
            session_code, round_number, id_in_subsession = self.groups.get(key, ("", "", ""))
            counter = None
            spec = self.specs.get(key)
            if spec is not None:
                counter = self.counters.get(key)
                if counter is None:
                    counter = self.counters[key] = eventrows.SubperiodCounter(*spec)
            out.append(eventrows.event_row(
                session_code=session_code, app=app, round_number=round_number, group_pk=group_pk,
                id_in_subsession=id_in_subsession, participant_code=self.code(pid),
                id_in_group=self.id_in_group.get((app, group_pk, pid), "") if pid is not None else "",
                channel=channel, seq=seq, recipient_code=self.code(rid), timestamp=ts, value_text=value,
                counter=counter,
            ))
        if found:
            self.after = (found[-1][1], found[-1][0])
        return out

    def __iter__(self):
        """Header, then every row (sync, in the caller's session)."""
        yield list(eventrows.EVENT_COLUMNS)
        while True:
            rows = self.chunk()
            if not rows:
                return
            yield from rows


def _safe(rows):
    if not conf.get("CSV_FORMULA_SAFE"):
        return rows
    return ([eventrows.formula_safe(c) for c in row] for row in rows)


def _session_ids(players):
    return sorted({p.session_id for p in players})


def events_export(app_name):
    """The Data page's ``custom_export_redwood_events`` of one app."""

    def custom_export_redwood_events(players):
        reader = EventRows(_session_ids(players), [app_name]).prepare()
        return _safe(iter(reader))

    custom_export_redwood_events.__doc__ = "otree-redwood: every real-time event of %s, one row each" % app_name
    return custom_export_redwood_events


# ---------------------------------------------------------------- output tables

def find_table_hooks(app_name):
    """(get_output_table, get_output_table_header or None) of an app, or (None, None).

    Looked up in the models module (the single-file format's only module),
    then ``pages.py`` and ``views.py`` (where 0.9.x apps define them).
    """
    modules = [_host.models_module(app_name)]
    for name in ("pages", "views"):
        dotted = "%s.%s" % (app_name, name)
        try:
            if importlib.util.find_spec(dotted) is not None:
                modules.append(importlib.import_module(dotted))
        except Exception:
            logger.debug("could not import %s", dotted, exc_info=True)
    for module in modules:
        table = getattr(module, "get_output_table", None)
        if callable(table):
            header = getattr(module, "get_output_table_header", None)
            return table, header if callable(header) else None
    return None, None


class OutputEvent(_host.EventRecord):
    """An event as 0.9.x's ``get_output_table`` sees it: with ``group`` and ``pk``."""

    __slots__ = ("group",)

    def __init__(self, group=None, **kw):
        # EventRecord.__init__ walks type(self).__slots__, which here is only ours
        for name in _host.EventRecord.__slots__:
            setattr(self, name, kw.get(name))
        self.group = group

    @property
    def pk(self):
        return self.id


class OutputTable:
    """One app's ``get_output_table`` CSV, a group at a time (sync, in a session scope).

    Header ``get_output_table_header(groups)`` (every group exported), then
    ``get_output_table(events)`` per group, ``events`` oldest first, each
    with ``group`` and ``participant`` loaded.  Without a header hook a
    table may be a ``(header, rows)`` pair, as in early 0.9.x.
    """

    def __init__(self, app_name, session_ids=None):
        self.app_name = app_name
        self.session_ids = None if session_ids is None else sorted(set(session_ids))
        self.table_fn, self.header_fn = find_table_hooks(app_name)
        self.group_ids = []
        self.wrote_header = False

    def _groups(self, ids=None):
        model = _host.group_model(self.app_name)
        q = _db().query(model)
        if ids is not None:
            q = q.filter(model.id.in_(ids))
        elif self.session_ids is not None:
            q = q.filter(model.session_id.in_(self.session_ids))
        return q.order_by(model.session_id, model.round_number, model.id_in_subsession, model.id).all()

    def prepare(self):
        """The header row (or None) and the groups to do."""
        if self.table_fn is None or _host.group_model(self.app_name) is None:
            return None
        groups = self._groups()
        self.group_ids = [g.id for g in groups]
        if self.header_fn is None or not groups:
            return None
        self.wrote_header = True
        return list(self.header_fn(groups))

    def rows_of(self, group_id):
        from otree.models import Participant

        from .tables import Event

        group = self._groups([group_id])[0]
        rows = _db().execute(sa.select([Event]).where(Event.c.app_name == self.app_name)
                             .where(Event.c.group_pk == group_id).order_by(Event.c.timestamp, Event.c.id))
        rows = rows.fetchall()
        pids = {r.participant_id for r in rows if r.participant_id is not None}
        people = {p.id: p for p in _db().query(Participant).filter(Participant.id.in_(pids))} if pids else {}
        events = [OutputEvent(id=r.id, timestamp=r.timestamp, app_name=r.app_name, group_pk=r.group_pk,
                              channel=r.channel, participant=people.get(r.participant_id),
                              participant_id=r.participant_id, value=r.value, seq=r.seq,
                              recipient_id=r.recipient_id, group=group) for r in rows]
        table = self.table_fn(events)
        if not table:
            return []
        out = []
        if self.header_fn is None and isinstance(table, tuple) and len(table) == 2:
            header, table = table
            if not self.wrote_header:
                out.append(list(header))
                self.wrote_header = True
        out.extend(list(row) for row in table)
        return out

    def __iter__(self):
        header = self.prepare()
        if header is not None:
            yield header
        for gid in self.group_ids:
            yield from self.rows_of(gid)


def table_export(app_name):
    """The Data page's ``custom_export_redwood_output_table`` of one app."""

    def custom_export_redwood_output_table(players):
        return _safe(iter(OutputTable(app_name, _session_ids(players))))

    custom_export_redwood_output_table.__doc__ = "otree-redwood: %s's get_output_table" % app_name
    return custom_export_redwood_output_table


def install(app=None):
    """Put our ``custom_export_*`` functions on each real-time app's models module.

    Runs when we attach to oTree's app (attach.on_attach), when every app's
    models module has been imported; an app's own function of the same name wins.
    """
    for app_name, _model in redwood_apps():
        module = _host.models_module(app_name)
        if not hasattr(module, EVENTS_EXPORT):
            setattr(module, EVENTS_EXPORT, events_export(app_name))
        try:
            table, _header = find_table_hooks(app_name)
        except Exception:  # an app that fails to import must not hide the Data page
            logger.exception("otree-redwood: could not look for get_output_table in %s", app_name)
            continue
        if table is not None and not hasattr(module, TABLE_EXPORT):
            setattr(module, TABLE_EXPORT, table_export(app_name))


attach.on_attach(install)
