"""HTTP views of otree-redwood for the admin: events API, live monitor, replay.

URLs (added to oTree's URLconf by ``otree_extensions/urls.py``):

* ``/redwood/api/events/session/<code>/``: every event of a session as JSON,
  ``{app_name: {group_pk: [event.message, ...]}}``, oldest first per group;
* ``/redwood/monitor/session/<code>/``: the live monitor of a session;
* ``/redwood/debug/session/<code>/``: replays a stored session group by group.

Who may see them follows oTree 3.4's own admin: with ``OTREE_AUTH_LEVEL``
set (``DEMO`` or ``STUDY``) only a logged-in admin (oTree's staff user, the
one that ``ADMIN_USERNAME``/``ADMIN_PASSWORD`` create); without an auth level
(demo mode) they are open, like oTree's admin pages.  The data exports
(exports.py) are registered by oTree itself, which applies the same rule.
"""
import functools
import json

import vanilla
from django.conf import settings
from django.conf.urls import url
from django.contrib.auth.views import redirect_to_login
from django.contrib.contenttypes.models import ContentType
from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import Http404, HttpResponseForbidden, JsonResponse, StreamingHttpResponse
from django.shortcuts import render

from . import exports
from .engine import conf, protocol
from .exports import AppSpecificExportCSV  # noqa: F401  (the 0.9.x name lives here)

# the 0.9.x name; the rest of this module is the admin pages of this package
__all__ = ["AppSpecificExportCSV"]

SESSION_CODE_RE = r"(?P<session_code>[a-zA-Z0-9_-]+)"


# ---------------------------------------------------------------- access

def login_required_now():
    """True when oTree's auth level asks for the admin login (as its admin views do)."""
    return getattr(settings, "AUTH_LEVEL", None) in ("DEMO", "STUDY")


def is_admin(user):
    """oTree's admin: an authenticated staff user (what its own consumers require)."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_staff", False)
    )


def admin_allowed(user):
    return (not login_required_now()) or is_admin(user)


def admin_page(view):
    """Pages: anonymous visitors go to oTree's login page, then come back."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if admin_allowed(getattr(request, "user", None)):
            return view(request, *args, **kwargs)
        if getattr(request.user, "is_authenticated", False):
            return HttpResponseForbidden("otree-redwood: this page is for the admin only")
        return redirect_to_login(request.get_full_path())

    return wrapped


def admin_api(view):
    """APIs: refused with 403 and a JSON reason (no redirect for scripts)."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if admin_allowed(getattr(request, "user", None)):
            return view(request, *args, **kwargs)
        return JsonResponse({"error": "admin login required", "login_url": settings.LOGIN_URL}, status=403)

    return wrapped


def get_session_or_404(code):
    from otree.models import Session

    try:
        return Session.objects.get(code=code)
    except Session.DoesNotExist:
        raise Http404("no session %s" % code)


# ---------------------------------------------------------------- events API

def iter_session_json(session_code, piece_events=500):
    """The JSON text of the events API in pieces (bounded memory).

    Groups are filtered by the content type of each app's Group model, so
    groups of two apps that share a primary key are never mixed.  Every
    group of the session appears, with an empty list when it has no event.
    """
    from otree.models import Participant

    from .models import Event
    from .engine.clock import epoch_ms

    codes = dict(Participant.objects.filter(session__code=session_code).values_list("id", "code"))
    yield "{"
    first_app = True
    for app_name, model, groups in exports.session_groups(session_code):
        ct = ContentType.objects.get_for_model(model)
        yield ("" if first_app else ",") + json.dumps(app_name) + ":{"
        first_app = False
        pks = sorted(g.pk for g in groups)
        group_pks = model.objects.filter(session__code=session_code).values("pk")
        events = (
            Event.objects.filter(content_type=ct, group_pk__in=group_pks)
            .order_by("group_pk", "timestamp", "id")
            .annotate(value_text=Cast("value", TextField()))
            .values_list("group_pk", "timestamp", "participant_id", "channel", "value_text")
            .iterator(chunk_size=exports.CHUNK_SIZE)
        )
        piece = []
        current = None
        opened = 0
        pending = next(events, None)
        for pk in pks:
            piece.append(("" if opened == 0 else "],") + json.dumps(str(pk)) + ":[")
            opened += 1
            first = True
            while pending is not None and pending[0] <= pk:
                group_pk, ts, pid, channel, value_text = pending
                if group_pk == pk:
                    code = codes.get(pid) if pid is not None else None
                    if pid is not None and code is None:
                        code = Participant.objects.filter(pk=pid).values_list("code", flat=True).first()
                        codes[pid] = code
                    piece.append(
                        '%s{"timestamp":%s,"group":%d,"participant":%s,"channel":%s,"value":%s}' % (
                            "" if first else ",",
                            json.dumps(epoch_ms(ts)),
                            group_pk,
                            json.dumps(code),
                            json.dumps(channel),
                            "null" if value_text is None else protocol.strict_json_text(value_text),
                        )
                    )
                    first = False
                    if len(piece) >= piece_events:
                        yield "".join(piece)
                        piece = []
                pending = next(events, None)
            current = pk
        if current is not None:
            piece.append("]")
        piece.append("}")
        yield "".join(piece)
    yield "}"


@admin_api
def events_api(request, session_code):
    get_session_or_404(session_code)
    response = StreamingHttpResponse(
        (p.encode("utf-8") for p in iter_session_json(session_code)), content_type="application/json"
    )
    return response


# ---------------------------------------------------------------- start now

@admin_api
def start_now_api(request, session_code):
    """POST app=<app>&group=<pk>: start that group's period without its absent members.

    The live monitor's *Start now* button (see absent.py).  Answers
    ``{"scheduled": true}``, or ``{"scheduled": false, "reason": ...}`` when
    the period has already started.
    """
    from . import groups as group_lookup
    from .engine import absent

    if request.method != "POST":
        return JsonResponse({"error": "POST app=<app name>&group=<group pk>"}, status=405)
    session = get_session_or_404(session_code)
    app_name, group_pk = request.POST.get("app", ""), request.POST.get("group", "")
    try:
        group = group_lookup.load_group(app_name, int(group_pk))
    except (ValueError, group_lookup.Refused):
        return JsonResponse({"error": "no group %r in app %r" % (group_pk, app_name)}, status=404)
    if group.session_id != session.pk:
        return JsonResponse({"error": "group %s is not in session %s" % (group_pk, session.code)}, status=404)
    if not absent.request_start(app_name, group.pk, reason="admin"):
        return JsonResponse({"scheduled": False, "reason": "the period has already started"})
    return JsonResponse({"scheduled": True})


# ---------------------------------------------------------------- pages

def group_rows(session_code):
    """Plain description of each real-time group of a session (for the pages)."""
    rows = []
    for app_name, model, groups in exports.session_groups(session_code):
        players = exports.player_model(app_name)
        members = {}
        if players is not None:
            for gid, idg, code in (
                players.objects.filter(session__code=session_code)
                .order_by("group_id", "id_in_group")
                .values_list("group_id", "id_in_group", "participant__code")
            ):
                members.setdefault(gid, []).append({"code": code, "id_in_group": idg})
        for g in groups:
            rows.append({
                "app": app_name,
                "group": g.pk,
                "round": g.round_number,
                "id_in_subsession": g.id_in_subsession,
                "members": members.get(g.pk, []),
                "period_length": exports.call_hook(g, "period_length"),
                "num_subperiods": exports.call_hook(g, "num_subperiods"),
            })
    return rows


class _AdminSessionPage(vanilla.View):
    template_name = None
    tab = None  # which redwood tab of admin_base.html is active
    with_groups = False

    def get(self, request, session_code):
        session = get_session_or_404(session_code)
        code = session.code
        page = {
            "session": code,
            "apiUrl": "/redwood/api/events/session/%s/" % code,
            "socketPath": "/redwood/events/session/%s/" % code,
            "monitorUrl": "/redwood/monitor/session/%s/" % code,
            "debugUrl": "/redwood/debug/session/%s/" % code,
            "exportUrl": "/redwood/export/events/?session=%s" % code,
            "intervalMs": int(float(conf.get("MONITOR_INTERVAL")) * 1000),
        }
        if self.with_groups:
            page["groups"] = group_rows(code)
        context = {"session": session, "page": page, "is_debug": settings.DEBUG, "request": request,
                   "redwood_tab": self.tab}
        return render(request, self.template_name, context)


class MonitorView(_AdminSessionPage):
    """Live view of a session's groups: connections, period, rates, decisions."""

    template_name = "otree_redwood/monitor.html"
    tab = "monitor"


class DebugView(_AdminSessionPage):
    """Replays a stored session's events group by group, at their original pace."""

    template_name = "otree_redwood/debug.html"
    tab = "replay"
    with_groups = True


urlpatterns = [
    url(r"^redwood/api/events/session/%s/$" % SESSION_CODE_RE, events_api, name="redwood_events_json_api"),
    url(r"^redwood/monitor/session/%s/$" % SESSION_CODE_RE, admin_page(MonitorView.as_view()), name="redwood_monitor"),
    url(r"^redwood/debug/session/%s/$" % SESSION_CODE_RE, admin_page(DebugView.as_view()), name="redwood_debug"),
    url(r"^redwood/monitor/session/%s/start/$" % SESSION_CODE_RE, start_now_api, name="redwood_start_now"),
]

# Per-app exports: oTree routes each at its 0.9.x address (url_pattern,
# data_export_views); they answer under /redwood/export/app/<app>/ too.
urlpatterns += [
    url(view.alt_url_pattern, admin_page(view.as_view()), name=view.url_name + "_redwood")
    for view in exports.data_export_views
    if getattr(view, "alt_url_pattern", None)
]
