"""``{{ redwood_globals }}``: the page's ``window.oTree``, as on oTree 3.

The components (``<otree-constants>``, ``<redwood-events>``...) and 0.9.x
pages read ``window.oTree``; a page's JavaScript must be the same on both
hosts, so the object has the keys and value types that the oTree 3 host's
``otree_redwood/Page.html`` renders (``{% redwood_otree_json %}`` in
``otree_redwood/templatetags/otree_redwood.py``): ``group`` (``pk``,
``players`` with ``participantCode``, ``role``, ``id_in_group``, ``payoff``),
``role``, ``roundNumber``, ``participantCode``, ``appName``, ``idInGroup`` (a
string, as 0.9.x rendered it), ``csrfToken``, ``debug``, ``socketToken``,
``postRoundDelay`` (seconds), ``_post_round_delay`` (0.9.x's milliseconds) and
``periodLength``.

Why a template tag rather than a model method or ``js_vars``: oTree 6's
template engine allows only literal arguments in calls, so a template cannot
pass ``player`` to anything, while a tag sees the whole context oTree renders
a page with; ``js_vars`` would need every app's page classes to cooperate,
and an app must need nothing beyond importing our bases.

``csrfToken`` is "": oTree 6 checks CSRF only on admin views
(``otree/views/cbv.py`` ``AdminView``), not on participant page POSTs, so
``<redwood-period>``'s form submit needs none.

oTree's engine does not HTML-escape what a tag returns, and the JSON goes
inside a ``<script>`` element, so ``<``, ``>``, ``&`` and the two JavaScript
line separators are written as ``\\uXXXX`` escapes (a participant label or a
role cannot close the element).

oTree internals: ``otree/templating/nodes.py`` ``register`` and ``Node``
(``wrender(context)``), ``otree/templating/context.py`` ``Context.is_defined``
and ``resolve``, ``otree/views/abstract.py`` ``get_context_data()`` (puts
``player``, ``group``, ``participant`` in the context), ``otree/settings.py``
``DEBUG``.
"""
import json

from otree.templating.nodes import Node, register

from .apphooks import app_name_of, call_hook
from .token import socket_token

_JS_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026",
               ord("\u2028"): "\\u2028", ord("\u2029"): "\\u2029"}


def _number(value):
    """A payoff or other Currency as a JSON number (None stays None)."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return int(f) if f.is_integer() else f


def _read(obj, name, default=None):
    """An attribute that oTree 6 may refuse to read (a NULL field raises TypeError)."""
    try:
        value = getattr(obj, name)
    except (TypeError, AttributeError):
        return default
    return value() if callable(value) else value


def _role(player):
    role = _read(player, "role", "")
    return "" if role is None else role


def _period_length(group):
    value = _number(call_hook(group, "period_length"))
    return value if isinstance(value, (int, float)) and value > 0 else None


def _post_round_delay(group):
    value = _number(call_hook(group, "post_round_delay", default=1))
    return value if isinstance(value, (int, float)) else 1


def otree_globals(player, group, participant):
    """The ``window.oTree`` dict for a page rendered with these objects (any may be None)."""
    from otree import settings

    app_name = app_name_of(player) if player is not None else None
    players = []
    if group is not None:
        for p in group.get_players():
            players.append({
                "participantCode": p.participant.code,
                "role": _role(p),
                "id_in_group": p.id_in_group,
                "payoff": _number(_read(p, "payoff")),
            })
    code = participant.code if participant is not None else None
    delay = _post_round_delay(group) if group is not None else 1
    return {
        "group": {"pk": group.id if group is not None else None, "players": players},
        "role": _role(player) if player is not None else "",
        "roundNumber": player.round_number if player is not None else None,
        "participantCode": code,
        "appName": app_name,
        "idInGroup": str(player.id_in_group) if player is not None else "",
        "csrfToken": "",
        "debug": bool(settings.DEBUG),
        "socketToken": socket_token(code, app_name, group.id) if (group is not None and code and app_name) else None,
        "postRoundDelay": delay,
        "_post_round_delay": delay * 1000,
        "periodLength": _period_length(group) if group is not None else None,
    }


def globals_json(context, token=None):
    """JSON for ``window.oTree`` from a template context, safe inside <script>."""
    found = {}
    for name in ("player", "group", "participant"):
        found[name] = context.resolve(name, token) if context.is_defined(name) else None
    data = otree_globals(found["player"], found["group"], found["participant"])
    return json.dumps(data).translate(_JS_ESCAPES)


@register("redwood_globals")
class RedwoodGlobals(Node):
    """``{{ redwood_globals }}``: a whole ``<script>window.oTree = ...;</script>``."""

    def wrender(self, context):
        return "<script>window.oTree = %s;</script>" % globals_json(context, self.token)


@register("redwood_otree_json")
class RedwoodOtreeJson(Node):
    """``{{ redwood_otree_json }}``: the bare JSON, the oTree 3 tag's name, for
    templates that write their own ``<script>window.oTree = ...;</script>``."""

    def wrender(self, context):
        return globals_json(context, self.token)
