"""Data exports of otree-redwood, shown on oTree's admin Data page.

``data_export_views`` (read by ``otree_extensions/admin.py``) holds:

* :class:`EventsCSV`, one tidy CSV of every stored :class:`~otree_redwood.models.Event`
  (one row per event), streamed row by row so that a session with millions
  of events exports in bounded memory (``?session=<code>`` keeps one session);
* :class:`RedwoodSessions`, a page that lists the sessions with links to the
  live monitor, the replay page and the per-session exports;
* one :class:`AppSpecificExportCSV` per app whose ``pages.py`` (or 0.9.x
  ``views.py``) defines ``get_output_table(events)`` and
  ``get_output_table_header(groups)``: the 0.9.x per-app output tables.

oTree registers these views itself and puts them behind its admin login
whenever ``OTREE_AUTH_LEVEL`` is set.

This module also holds the lookups that the views and the monitor share:
which apps are real-time apps, and the groups of a session.
"""
import datetime
import importlib
import importlib.util
import logging

import vanilla
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse

from .engine import conf, eventrows
from .engine.eventrows import formula_safe  # noqa: F401  (the name docs and tests use)

logger = logging.getLogger(__name__)

#: Rows fetched from the database per round trip while streaming.
CHUNK_SIZE = 2000
#: Rows encoded into one piece of the streamed response.
ROWS_PER_PIECE = 500

#: Columns of the tidy events CSV, in order (engine/eventrows.py: the same on both hosts).
EVENT_COLUMNS = list(eventrows.EVENT_COLUMNS)


# ---------------------------------------------------------------- lookups

def redwood_apps():
    """[(app_name, Group model)] of every oTree app whose Group is a redwood Group."""
    from django.apps import apps

    from .models import Group

    found = []
    for app_name in getattr(settings, "INSTALLED_OTREE_APPS", []):
        try:
            model = apps.get_app_config(app_name).get_model("Group")
        except LookupError:
            continue
        if issubclass(model, Group):
            found.append((app_name, model))
    return found


def player_model(app_name):
    from django.apps import apps

    try:
        return apps.get_app_config(app_name).get_model("Player")
    except LookupError:
        return None


def session_groups(session_code):
    """[(app_name, Group model, [groups of the session])] with the session loaded.

    Groups are ordered by round and id in subsession; apps without a group in
    the session are left out.  One query per real-time app.
    """
    out = []
    for app_name, model in redwood_apps():
        groups = list(
            model.objects.filter(session__code=session_code)
            .select_related("session")
            .order_by("round_number", "id_in_subsession", "pk")
        )
        if groups:
            out.append((app_name, model, groups))
    return out


def call_hook(group, name):
    """``group.<name>()``, or None when it is missing or raises."""
    fn = getattr(group, name, None)
    if not callable(fn):
        return None
    try:
        return fn()
    except Exception:
        logger.warning("%s.%s() raised; treated as None", type(group).__name__, name, exc_info=True)
        return None


def _subperiod_spec(group):
    """Number of sub-periods and period length of a DecisionGroup, or None."""
    from .models import DecisionGroup

    if not isinstance(group, DecisionGroup):
        return None
    return eventrows.subperiod_spec(call_hook(group, "num_subperiods"), call_hook(group, "period_length"))


class _Lookups:
    """Everything the CSV rows need besides the events, loaded in bulk.

    A few queries per app (groups, players, participants), never one per
    event: the size of these maps grows with the number of groups and
    players, not with the number of events.
    """

    def __init__(self, session_code=None):
        from otree.models import Participant

        self.ct_app = {}  # content type id -> app name
        self.groups = {}  # (ct id, group pk) -> (session code, round, id in subsession)
        self.subperiods = {}  # (ct id, group pk) -> (n, period length s)
        self.id_in_group = {}  # (ct id, group pk, participant id) -> id_in_group
        self.group_filters = []  # (ct id, group pk queryset) per app, for a session
        for app_name, model in redwood_apps():
            ct = ContentType.objects.get_for_model(model)
            self.ct_app[ct.id] = app_name
            groups = model.objects.select_related("session")
            if session_code is not None:
                groups = groups.filter(session__code=session_code)
                self.group_filters.append(
                    (ct.id, model.objects.filter(session__code=session_code).values("pk"))
                )
            for g in groups:
                self.groups[(ct.id, g.pk)] = (g.session.code, g.round_number, g.id_in_subsession)
                spec = _subperiod_spec(g)
                if spec:
                    self.subperiods[(ct.id, g.pk)] = spec
            players = player_model(app_name)
            if players is not None:
                rows = players.objects.all()
                if session_code is not None:
                    rows = rows.filter(session__code=session_code)
                for pid, gid, idg in rows.values_list("participant_id", "group_id", "id_in_group").iterator():
                    self.id_in_group[(ct.id, gid, pid)] = idg
        participants = Participant.objects.all()
        if session_code is not None:
            participants = participants.filter(session__code=session_code)
        self.codes = dict(participants.values_list("id", "code").iterator())

    def code(self, participant_id):
        if participant_id is None:
            return ""
        code = self.codes.get(participant_id)
        if code is None:
            # a participant of another session (only when exporting one session)
            from otree.models import Participant

            code = Participant.objects.filter(pk=participant_id).values_list("code", flat=True).first() or ""
            self.codes[participant_id] = code
        return code

    def app(self, ct_id):
        app = self.ct_app.get(ct_id)
        if app is None:
            ct = ContentType.objects.get_for_id(ct_id)
            app = ct.app_label
            self.ct_app[ct_id] = app
        return app


def events_queryset(lookups, session_code=None):
    from .models import Event

    qs = Event.objects.all()
    if session_code is not None:
        cond = Q(pk__in=[])
        for ct_id, group_pks in lookups.group_filters:
            cond |= Q(content_type_id=ct_id, group_pk__in=group_pks)
        qs = qs.filter(cond)
    # the stored JSON text as it is: no decoding and re-encoding per row
    return qs.order_by("timestamp", "id").annotate(value_text=Cast("value", TextField())).values_list(
        "id", "timestamp", "content_type_id", "group_pk", "channel", "participant_id",
        "seq", "recipient_id", "value_text",
    )


def iter_event_rows(session_code=None, chunk_size=CHUNK_SIZE):
    """Header, then one list of strings per stored event, oldest first.

    Memory stays bounded whatever the number of events: the events are read
    ``chunk_size`` at a time, and what is kept besides is per group and per
    player (see :class:`_Lookups`).
    """
    lookups = _Lookups(session_code)
    counters = {}
    yield list(EVENT_COLUMNS)
    for (_id, ts, ct_id, group_pk, channel, pid, seq, rid, value_text) in events_queryset(
        lookups, session_code
    ).iterator(chunk_size=chunk_size):
        gkey = (ct_id, group_pk)
        group = lookups.groups.get(gkey)
        if group is None:
            session, round_number, id_in_subsession = "", "", ""
        else:
            session, round_number, id_in_subsession = group
        counter = None
        spec = lookups.subperiods.get(gkey)
        if spec is not None:
            counter = counters.get(gkey)
            if counter is None:
                counter = counters[gkey] = eventrows.SubperiodCounter(*spec)
        yield eventrows.event_row(
            session_code=session, app=lookups.app(ct_id), round_number=round_number, group_pk=group_pk,
            id_in_subsession=id_in_subsession, participant_code=lookups.code(pid),
            id_in_group=lookups.id_in_group.get((ct_id, group_pk, pid), "") if pid is not None else "",
            channel=channel, seq=seq, recipient_code=lookups.code(rid), timestamp=ts, value_text=value_text,
            counter=counter,
        )


def safe_requested(request):
    """Whether a download asked for spreadsheet-safe cells (``?safe=1``), else the setting."""
    return eventrows.safe_flag(request.GET.get("safe"), conf.get("CSV_FORMULA_SAFE"))


def stream_csv(rows, rows_per_piece=ROWS_PER_PIECE, safe=False):
    """CSV text of ``rows`` in pieces of a few hundred rows.

    With ``safe``, cells that a spreadsheet would read as a formula get a
    leading quote (see formula_safe).
    """
    return eventrows.csv_pieces(rows, rows_per_piece=rows_per_piece, safe=safe)


def csv_response(pieces, filename):
    response = StreamingHttpResponse((p.encode("utf-8") for p in pieces), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="%s"' % filename.replace('"', "")
    return response


def _today():
    return datetime.date.today().isoformat()


# ---------------------------------------------------------------- views

class EventsCSV(vanilla.View):
    """Every stored event as one tidy CSV; ``?session=<code>`` keeps one session."""

    url_name = "redwood_export_events"
    url_pattern = r"^redwood/export/events/$"
    display_name = "otree-redwood: all real-time events (one row per event, CSV)"

    def get(self, request, *args, **kwargs):
        session_code = request.GET.get("session") or None
        name = "Redwood events%s (accessed %s).csv" % (
            " " + session_code if session_code else "", _today()
        )
        return csv_response(stream_csv(iter_event_rows(session_code), safe=safe_requested(request)), name)


_SESSIONS_TEMPLATE = """{% extends "otree/BaseAdmin.html" %}
{% block title %}otree-redwood: sessions{% endblock %}
{% block content %}
<p>Live monitor, replay and exports of the sessions that use real-time apps
(newest first).  The monitor is also at <code>/redwood/monitor/session/&lt;code&gt;/</code>.</p>
<table class="table table-sm" id="redwood-sessions">
<thead><tr><th>Session</th><th>Config</th><th>Apps</th><th>Label</th><th>Participants</th><th></th></tr></thead>
<tbody>
{% for row in sessions %}
<tr data-session="{{ row.code }}">
<td><code>{{ row.code }}</code></td>
<td>{{ row.display_name }}</td>
<td>{{ row.apps|join:", " }}</td>
<td>{{ row.label }}</td>
<td>{{ row.participants }}</td>
<td>
<a href="{{ row.monitor }}">Live monitor</a> &middot;
<a href="{{ row.debug }}">Replay</a> &middot;
<a href="{{ row.csv }}">Events CSV</a>
(<a href="{{ row.csv }}&amp;safe=1"
    title="cells that a spreadsheet would run as formulas start with a quote">for spreadsheets</a>) &middot;
<a href="{{ row.api }}">Events JSON</a>
</td>
</tr>
{% empty %}
<tr><td colspan="6">No session uses a real-time app yet.</td></tr>
{% endfor %}
</tbody>
</table>
{% endblock %}
"""


class RedwoodSessions(vanilla.View):
    """The sessions, each with links to its live monitor, replay and exports."""

    url_name = "redwood_sessions"
    url_pattern = r"^redwood/sessions/$"
    display_name = "otree-redwood: live monitor and replay of each session (page)"

    def get(self, request, *args, **kwargs):
        from django.http import HttpResponse
        from django.template import engines
        from otree.models import Session

        names = {app for app, _model in redwood_apps()}
        rows = []
        for session in Session.objects.order_by("-id")[:500]:
            config = session.config or {}
            apps = [a for a in config.get("app_sequence", []) if a in names]
            if not apps:
                continue
            code = session.code
            rows.append({
                "code": code,
                "display_name": config.get("display_name", config.get("name", "")),
                "apps": apps,
                "label": session.label or "",
                "participants": session.num_participants,
                "monitor": "/redwood/monitor/session/%s/" % code,
                "debug": "/redwood/debug/session/%s/" % code,
                "csv": "/redwood/export/events/?session=%s" % code,
                "api": "/redwood/api/events/session/%s/" % code,
            })
        template = engines["django"].from_string(_SESSIONS_TEMPLATE)
        return HttpResponse(template.render({"sessions": rows}, request))


def _find_hooks(app_name):
    """(get_output_table, get_output_table_header) of an app's pages/views module."""
    for module_name in ("pages", "views"):
        dotted = "%s.%s" % (app_name, module_name)
        try:
            if importlib.util.find_spec(dotted) is None:
                continue
            module = importlib.import_module(dotted)
        except Exception:
            logger.debug("could not import %s", dotted, exc_info=True)
            continue
        table = getattr(module, "get_output_table", None)
        if callable(table):
            header = getattr(module, "get_output_table_header", None)
            return table, header if callable(header) else None
    return None, None


class AppSpecificExportCSV(vanilla.View):
    """The 0.9.x per-app export: the app's own ``get_output_table`` as a CSV.

    A subclass sets ``app_name`` (and ``url_name``, ``url_pattern``,
    ``display_name``).  As in 0.9.x, calling the class with positional
    arguments builds such a subclass::

        ExportView = AppSpecificExportCSV(app_name, display_name, get_output_table,
                                          get_output_table_header)

    The CSV has the header ``get_output_table_header(groups)`` (all the
    groups exported) followed by ``get_output_table(events)`` for each group
    in turn, ``events`` being that group's events oldest first, each with
    ``event.group`` and ``event.participant`` already loaded.  Without a
    header hook, a table may be a ``(header, rows)`` pair as in early 0.9.x.
    ``?session=<code>`` keeps one session.  Hooks are looked up in the app's
    ``pages.py``/``views.py`` at request time unless given to the factory.
    """

    app_name = None
    display_name = None
    url_name = None
    url_pattern = None
    alt_url_pattern = None
    get_output_table = None
    get_output_table_header = None

    def __new__(cls, *args, **kwargs):
        if args:
            return cls.for_app(*args, **kwargs)
        return super().__new__(cls)

    @classmethod
    def for_app(cls, app_name, display_name=None, get_output_table=None, get_output_table_header=None):
        attrs = {
            "app_name": app_name,
            "display_name": display_name or "%s (otree-redwood output table, CSV)" % app_name,
            # 0.9.x's address and URL name: bookmarks, scripts and lab notes
            # use them, and oTree's Data page links to url_name
            "url_name": "redwood_export_%s" % app_name,
            "url_pattern": r"^redwood_export_%s/$" % app_name,
            # the same view under the prefix of every other redwood URL
            # (served by views.urlpatterns)
            "alt_url_pattern": r"^redwood/export/app/%s/$" % app_name,
            "__module__": __name__,
        }
        if get_output_table is not None:
            attrs["get_output_table"] = staticmethod(get_output_table)
        if get_output_table_header is not None:
            attrs["get_output_table_header"] = staticmethod(get_output_table_header)
        return type("AppSpecificExportCSV_%s" % app_name, (cls,), attrs)

    def hooks(self):
        table = type(self).__dict__.get("get_output_table")
        header = type(self).__dict__.get("get_output_table_header")
        table = table.__func__ if isinstance(table, staticmethod) else table
        header = header.__func__ if isinstance(header, staticmethod) else header
        if table is None:
            table, found_header = _find_hooks(self.app_name)
            header = header or found_header
        return table, header

    def groups(self, session_code=None):
        from .groups import get_group_model

        model = get_group_model(self.app_name)
        groups = model.objects.select_related("session").order_by(
            "session_id", "round_number", "id_in_subsession", "pk"
        )
        if session_code:
            groups = groups.filter(session__code=session_code)
        return model, list(groups)

    def rows(self, session_code=None):
        from .models import Event

        table_fn, header_fn = self.hooks()
        if table_fn is None:
            return
        model, groups = self.groups(session_code)
        if not groups:
            return
        if header_fn is not None:
            yield list(header_fn(groups))
        ct = ContentType.objects.get_for_model(model)
        # participants loaded once (select_related would break on oTree's
        # pickled fields for the server's events, whose participant is null)
        participants = _participants_of(groups)
        group_field = Event._meta.get_field("group")
        participant_field = Event._meta.get_field("participant")
        wrote_header = header_fn is not None
        for group in groups:
            events = list(Event.objects.filter(content_type=ct, group_pk=group.pk).order_by("timestamp", "id"))
            for event in events:
                group_field.set_cached_value(event, group)
                if event.participant_id is not None:
                    participant = participants.get(event.participant_id)
                    if participant is None:
                        participant = participants[event.participant_id] = type(self)._participant(event.participant_id)
                    participant_field.set_cached_value(event, participant)
            table = table_fn(events)
            if not table:
                continue
            if header_fn is None and isinstance(table, tuple) and len(table) == 2:
                header, table = table
                if not wrote_header:
                    yield list(header)
                    wrote_header = True
            for row in table:
                yield list(row)

    @staticmethod
    def _participant(pk):
        from otree.models import Participant

        return Participant.objects.get(pk=pk)

    def get(self, request, *args, **kwargs):
        session_code = request.GET.get("session") or None
        name = "%s_Events (accessed %s).csv" % (self.app_name, _today())
        return csv_response(stream_csv(self.rows(session_code), safe=safe_requested(request)), name)


def _participants_of(groups):
    from otree.models import Participant

    sessions = {g.session_id for g in groups}
    return {p.pk: p for p in Participant.objects.filter(session_id__in=sessions)}


def app_export_views():
    """One AppSpecificExportCSV subclass per app that defines get_output_table."""
    views = []
    for app_name, _model in redwood_apps():
        table, header = _find_hooks(app_name)
        if table is None:
            continue
        views.append(
            AppSpecificExportCSV.for_app(
                app_name, "%s (otree-redwood output table, CSV)" % app_name
            )
        )
    return views


def _build_export_views():
    found = [EventsCSV, RedwoodSessions]
    try:
        found += app_export_views()
    except Exception:  # an app that fails to import must not hide the Data page
        logger.exception("otree-redwood: could not look for get_output_table hooks")
    return found


data_export_views = _build_export_views()
