"""The oTree 3 host's groups: finding them, who may connect, and their GroupInfo.

``GroupInfo`` (engine/groupinfo.py) is a plain snapshot, so the async hot
path can use it without touching the database; this module builds it from
Django models, caches it, and checks each socket's URL and token.
"""
import logging
import threading

from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.utils.crypto import constant_time_compare

from .engine import protocol
from .engine.errors import Refused  # noqa: F401  (raised here; the consumers catch it from here)
from .engine.groupinfo import GroupInfo, group_key

logger = logging.getLogger(__name__)

_TOKEN_SALT = "otree_redwood.socket"
_cache = {}
_cache_lock = threading.Lock()


def socket_token(participant_code, app_name, group_pk):
    """Signed value rendered into one participant's page only (Page.html)."""
    value = "%s/%s/%s" % (participant_code, app_name, group_pk)
    return signing.Signer(salt=_TOKEN_SALT).signature(value)


def check_token(token, participant_code, app_name, group_pk):
    if not token:
        return False
    return constant_time_compare(token, socket_token(participant_code, app_name, group_pk))


def get_group_model(app_name):
    """The Group model of an oTree app, or None when the app is unknown."""
    from django.apps import apps

    try:
        config = apps.get_app_config(app_name)
    except LookupError:
        return None
    try:
        return config.get_model("Group")
    except LookupError:
        return None


def _handler_channels(model):
    """Channels that have an ``_on_<channel>_event`` method on a Group model."""
    # the names of the classes' own dicts, not dir(): a batch of a lab's
    # connects builds hundreds of infos
    names = {name for cls in model.__mro__ for name in vars(cls)
             if name.startswith("_on_") and name.endswith("_event")}
    return frozenset(
        name[len("_on_"):-len("_event")] for name in names if callable(getattr(model, name, None))
    )


def _member_rows(players):
    """(group id, participant code, participant id, id_in_group, player pk) of these players.

    Plain values, no Player or Participant instances (loading a participant
    decodes its vars): a lab connecting at once authorizes hundreds of
    members per batch.
    """
    return (players.order_by("group_id", "id_in_group")
            .values_list("group_id", "participant__code", "participant_id", "id_in_group", "pk"))


def build_info(group, members=None, session_code=None):
    """GroupInfo of a loaded group instance (sync).

    Without ``members`` ({code: (participant id, id_in_group, player pk)})
    and ``session_code`` it makes 2 queries to find them (see build_infos).
    """
    from .models import DecisionGroup, Group

    model = type(group)
    if not isinstance(group, Group):
        raise TypeError("%s.Group does not extend otree_redwood.models.Group" % group.app_name)
    app_name = model._meta.app_config.name
    if members is None:
        members = {}
        for _, code, participant_id, id_in_group, player_pk in _member_rows(group.player_set.all()):
            members[code] = (participant_id, id_in_group, player_pk)
    if session_code is None:
        session_code = group.session.code
    is_decision = isinstance(group, DecisionGroup)
    fast = is_decision and type(group)._on_decisions_event is DecisionGroup._on_decisions_event
    custom_tick = is_decision and type(group)._subperiod_tick is not DecisionGroup._subperiod_tick
    handlers = _handler_channels(model)

    def _hook(name):
        fn = getattr(group, name, None)
        if fn is None:
            return None
        try:
            return fn()
        except Exception:
            logger.exception("%s.%s() raised; treated as None", model.__name__, name)
            return None

    info = GroupInfo(
        app_name=app_name,
        pk=group.pk,
        gk=group_key(app_name, group.pk),
        model=model,
        ct_id=ContentType.objects.get_for_model(model).id,
        session_code=session_code,
        members=members,
        period_length=_hook("period_length"),
        num_subperiods=_hook("num_subperiods") if is_decision else None,
        rate_limit=_hook("rate_limit") if is_decision else None,
        post_round_delay=_hook("post_round_delay"),
        is_decision_group=is_decision,
        fast_decisions=fast,
        custom_subperiod_tick=custom_tick,
        handlers=handlers,
        server_only=frozenset(getattr(model, "server_only_channels", ()) or ()),
        default_disconnect_hook=model.when_player_disconnects is Group.when_player_disconnects,
    )
    with _cache_lock:
        _cache[info.gk] = info
    return info


def build_infos(gks, siblings=True):
    """Build and cache the GroupInfo of many groups at once (sync).

    With the groups asked for come (``siblings``) the other groups of their
    sessions in the same app (their timers are likely due next, e.g. after a
    restart), in a few queries per app instead of three per group.  Unknown
    groups are skipped.
    """
    from django.apps import apps

    by_app = {}
    for gk in gks:
        app_name, pk = gk.rsplit(":", 1)
        by_app.setdefault(app_name, set()).add(int(pk))
    built = []
    for app_name, pks in by_app.items():
        model = get_group_model(app_name)
        if model is None:
            continue
        player_model = apps.get_app_config(app_name).get_model("Player")
        if siblings:
            session_ids = set(model.objects.filter(pk__in=pks).values_list("session_id", flat=True))
            rows = model.objects.filter(session_id__in=session_ids)
        else:
            rows = model.objects.filter(pk__in=pks)
        # the session comes along: hooks such as period_length() read its config
        wanted = [g for g in rows.select_related("session")
                  if g.pk in pks or group_key(app_name, g.pk) not in _cache]
        members = {g.pk: {} for g in wanted}
        for group_id, code, participant_id, id_in_group, player_pk in _member_rows(
                player_model.objects.filter(group_id__in=list(members))):
            members[group_id][code] = (participant_id, id_in_group, player_pk)
        for g in wanted:
            built.append(build_info(g, members[g.pk], g.session.code))
    return built


def info_for(group):
    """Cached GroupInfo of a group instance (built on first use)."""
    gk = group_key(group._meta.app_config.name, group.pk)
    info = _cache.get(gk)
    if info is None:
        info = build_info(group)
    return info


def cached(app_name, group_pk):
    return _cache.get(group_key(app_name, group_pk))


def cached_key(gk):
    """The cached GroupInfo of a group key ``"app:pk"``, or None."""
    return _cache.get(gk)


def load_group(app_name, group_pk, lock=False):
    """The group row; with ``lock``, locked until the transaction ends (not on SQLite)."""
    model = get_group_model(app_name)
    if model is None:
        raise Refused(protocol.CLOSE_NOT_FOUND, "unknown app '%s'" % app_name)
    rows = model.objects.select_for_update() if lock else model.objects
    try:
        return rows.get(pk=group_pk)
    except (model.DoesNotExist, ValueError):
        raise Refused(protocol.CLOSE_NOT_FOUND, "no group %s in app '%s'" % (group_pk, app_name))


def load_by_key(gk, lock=False):
    """A fresh instance of the group ``app:pk`` (sync)."""
    app_name, pk = gk.rsplit(":", 1)
    return load_group(app_name, int(pk), lock=lock)


def precheck(app_name, group_pk, participant_code, token, require_token):
    """What can be refused without the database or Redis; returns the group pk.

    The URL's shape, the app, and the token (one HMAC): a flood of handshakes
    with bad tokens costs the server no query and no wait on the pipeline's
    database thread.
    """
    from .models import Group

    try:
        group_pk = int(group_pk)
    except (TypeError, ValueError):
        raise Refused(protocol.CLOSE_BAD_URL, "group must be a number")
    model = get_group_model(app_name)
    if model is None:
        raise Refused(protocol.CLOSE_NOT_FOUND, "unknown app '%s'" % app_name)
    if not issubclass(model, Group):
        raise Refused(protocol.CLOSE_NOT_FOUND, "app '%s' is not a redwood app" % app_name)
    if require_token and not check_token(token, participant_code, app_name, group_pk):
        raise Refused(protocol.CLOSE_FORBIDDEN, "missing or invalid token; open the page through oTree")
    return group_pk


def authorize_many(requests):
    """authorize() for many sockets at once: [(ok, (GroupInfo, participant id) or Refused)].

    Each group is read once per call, however many of its members are in it,
    and all of them in a few queries: the group as it is now (members and
    hooks' answers) for every socket, as authorize() gives it.
    """
    checked = []
    for app_name, group_pk, participant_code, token, require_token in requests:
        try:
            checked.append(group_key(app_name, precheck(app_name, group_pk, participant_code, token, require_token)))
        except Refused as refused:
            checked.append(refused)
    infos = {info.gk: info for info in build_infos({gk for gk in checked if isinstance(gk, str)}, siblings=False)}
    out = []
    for req, gk in zip(requests, checked):
        if isinstance(gk, Refused):
            out.append((False, gk))
            continue
        info = infos.get(gk)
        if info is None:
            out.append((False, Refused(protocol.CLOSE_NOT_FOUND, "no group %s in app '%s'" % (req[1], req[0]))))
            continue
        member = info.members.get(req[2])
        if member is None:
            out.append((False, Refused(protocol.CLOSE_FORBIDDEN, "participant is not a member of this group")))
        else:
            out.append((True, (info, member[0])))
    return out


def authorize(app_name, group_pk, participant_code, token, require_token):
    """Check a socket's URL and token; return (GroupInfo, participant id).

    Raises Refused with a 4xxx close code when the socket is not allowed.
    """
    from .models import Group

    group_pk = precheck(app_name, group_pk, participant_code, token, require_token)
    group = load_group(app_name, group_pk)
    if not isinstance(group, Group):
        raise Refused(protocol.CLOSE_NOT_FOUND, "app '%s' is not a redwood app" % app_name)
    info = build_info(group)
    member = info.members.get(participant_code)
    if member is None:
        raise Refused(protocol.CLOSE_FORBIDDEN, "participant is not a member of this group")
    return info, member[0]
