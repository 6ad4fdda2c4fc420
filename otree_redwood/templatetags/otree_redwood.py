"""Template tags for pages that extend ``otree_redwood/Page.html``."""
import json

from django import template
from django.conf import settings
from django.middleware.csrf import get_token
from django.utils.safestring import mark_safe

from otree_redwood.groups import socket_token

register = template.Library()

_JS_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026",
               ord("\u2028"): "\\u2028", ord("\u2029"): "\\u2029"}


def _number(value):
    """A payoff or other Currency as a JSON number."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return int(f) if f.is_integer() else f


def _text(value):
    """A value as 0.9.x's template rendered it inside quotes (None as "")."""
    return "" if value is None else str(value)


def otree_globals(context):
    """The ``window.oTree`` object of 0.9.x pages, plus the socket token."""
    player = context.get("player")
    group = context.get("group")
    participant = context.get("participant")
    request = context.get("request")
    app_name = player._meta.app_config.name if player is not None else None
    players = []
    if group is not None:
        for p in group.get_players():
            role = p.role() if callable(getattr(p, "role", None)) else getattr(p, "role", "")
            players.append({
                "participantCode": p.participant.code,
                "role": role,
                "id_in_group": p.id_in_group,
                "payoff": _number(p.payoff),
            })
    role = ""
    if player is not None:
        role = player.role() if callable(getattr(player, "role", None)) else getattr(player, "role", "")
    code = participant.code if participant is not None else None
    return {
        "group": {"pk": group.pk if group is not None else None, "players": players},
        "role": role,
        "roundNumber": player.round_number if player is not None else None,
        "participantCode": code,
        "appName": app_name,
        # a string, as 0.9.x rendered it ("{{ player.id_in_group }}"); "" without a player
        "idInGroup": _text(player.id_in_group) if player is not None else "",
        "csrfToken": get_token(request) if request is not None else "",
        "debug": bool(settings.DEBUG),
        "socketToken": socket_token(code, app_name, group.pk) if (group is not None and code) else None,
        "postRoundDelay": _number(group.post_round_delay()) if hasattr(group, "post_round_delay") else 1,
        # 0.9.x's name and unit (milliseconds), read by some 0.9.x pages
        "_post_round_delay": _delay_ms(group),
        # seconds, for the time left (<redwood-period>, <redwood-countdown>)
        "periodLength": _period_length(group),
    }


def _period_length(group):
    """The group's period_length() as a number, or None (no end, or no hook)."""
    hook = getattr(group, "period_length", None)
    if not callable(hook):
        return None
    value = _number(hook())
    return value if isinstance(value, (int, float)) and value > 0 else None


def _delay_ms(group):
    """post_round_delay() in milliseconds (0.9.x's oTree._post_round_delay); 1000 without the hook."""
    hook = getattr(group, "post_round_delay", None)
    value = _number(hook()) if callable(hook) else 1
    return value * 1000 if isinstance(value, (int, float)) else 1000


@register.simple_tag(takes_context=True)
def redwood_otree_json(context):
    """JSON for ``window.oTree``, safe to put inside a <script> element."""
    text = json.dumps(otree_globals(context)).translate(_JS_ESCAPES)
    return mark_safe(text)
