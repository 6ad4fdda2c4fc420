"""The life of a group: connects, the once-only ready hook, periods, disconnects.

Each function here is synchronous database work, run in order by the
pipeline on its database thread (runtime.db_sync), never on the event loop.
Which sockets are connected is kept in Redis (one hash per group, one
heartbeat key per server process), so every process sees the same picture and
sockets of a process that died stop counting once its heartbeat expires.
"""
import logging

from django.db import transaction
from django.utils import timezone

from . import absent, conf, groups, keys, messaging, protocol, redis_conn, state, timers

logger = logging.getLogger(__name__)

#: Seconds past its due time after which a period end that is neither stored
#: nor scheduled counts as lost (see _repair_period_end).
PERIOD_END_GRACE = 2.0


def process_alive_key(process_id):
    return keys.process_alive(process_id)


def live_sockets(info):
    """{socket id: participant code} of sockets whose process is alive.

    Sockets of dead processes are removed from Redis on the way.
    """
    return live_sockets_many([info])[info.gk]


def live_sockets_many(infos):
    """live_sockets() of many groups: {gk: {socket id: code}}, in two Redis round trips."""
    r = redis_conn.get_sync()
    infos = list({info.gk: info for info in infos}.values())
    pipe = r.pipeline(transaction=False)
    for info in infos:
        pipe.hgetall(info.sockets_key)
    entries = {}
    for info, raw in zip(infos, pipe.execute()):
        entries[info.gk] = {}
        for sid, val in raw.items():
            code, _, proc = val.decode().partition("|")
            entries[info.gk][sid.decode()] = (code, proc)
    procs = sorted({proc for group in entries.values() for _, proc in group.values()})
    alive = dict(zip(procs, r.mget([process_alive_key(p) for p in procs]))) if procs else {}
    out = {}
    pipe = r.pipeline(transaction=False)
    for info in infos:
        live, dead = {}, []
        for sid, (code, proc) in entries[info.gk].items():
            if alive.get(proc):
                live[sid] = code
            else:
                dead.append(sid)
        if dead:
            pipe.hdel(info.sockets_key, *dead)
        out[info.gk] = live
    if len(pipe):
        pipe.execute()
    return out


def connect_phase(info, participant_id, participant_code, last_seq):
    """Record the connection; return the frames this socket gets first.

    Order: what it missed since ``last_seq`` (if given), then the latest
    ``state``, then the current ``group_decisions``.
    """
    ok, value = connect_many([(info, participant_id, participant_code, last_seq)])[0]
    if not ok:
        raise value
    return value


def connect_many(requests):
    """connect_phase() of many sockets [(info, participant id, code, last seq)]: [(ok, frames or exception)].

    The work shared by the sockets (Connection rows, the groups' start
    times, their latest state and map, the Redis seeding check) is done once
    per call or per group, not once per socket.
    """
    from .models import Event

    _record_connections({pid for _, pid, _, _ in requests})
    infos = {}
    for info, _, _, _ in requests:
        infos[info.gk] = info
    started = {}
    by_model = {}
    for info in infos.values():
        by_model.setdefault(info.model, []).append(info.pk)
    for model, pks in by_model.items():
        for chunk in _chunks(pks):
            for pk, t in model.objects.filter(pk__in=chunk).values_list("pk", "ran_ready_function"):
                started[(model, pk)] = t
    state.seed_groups([(info, 0) for info in infos.values()])
    # what each socket missed is read before the group's latest state and
    # map, as for one socket alone: the map is never older than the replay
    replays = []
    limit = conf.get("REPLAY_LIMIT")
    for info, participant_id, _, last_seq in requests:
        try:
            frames = []
            if last_seq is not None:
                events = Event.objects.filter(content_type_id=info.ct_id, group_pk=info.pk)
                frames.extend(messaging.event_frame(e) for e in _missed(events, last_seq, participant_id, limit))
            replays.append((True, frames))
        except Exception as exc:
            logger.exception("redwood replay for %s failed", info.gk)
            replays.append((False, exc))
    latest = _latest_states(infos.values())
    shared, failed = {}, {}
    for gk, info in infos.items():
        try:
            if (info.model, info.pk) not in started:
                raise info.model.DoesNotExist("group %s no longer exists" % gk)
            frames = []
            latest_state = latest.get(gk)
            if latest_state is not None:
                frames.append(messaging.event_frame(latest_state))
            _repair_period_end(info, started[(info.model, info.pk)], latest_state)
            if info.is_decision_group:
                events = Event.objects.filter(content_type_id=info.ct_id, group_pk=info.pk)
                frames.extend(_map_frame(info, events))
            shared[gk] = frames
        except Exception as exc:
            logger.exception("redwood connect of a socket of %s failed", gk)
            failed[gk] = exc
    out = []
    for (info, _, _, _), (ok, replay) in zip(requests, replays):
        if info.gk in failed:
            out.append((False, failed[info.gk]))
        elif not ok:
            out.append((False, replay))
        else:
            out.append((True, replay + shared[info.gk]))
    return out


def _chunks(values, size=500):
    # SQLite allows 999 variables per statement (before 3.32)
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _record_connections(participant_ids):
    """One Connection row per participant, (re)dated now, for many at once."""
    from django.db import IntegrityError

    from .models import Connection

    now, process = timezone.now(), timers.process_token()
    try:
        with transaction.atomic():
            for chunk in _chunks(participant_ids):
                rows = Connection.objects.filter(participant_id__in=chunk)
                there = set(rows.values_list("participant_id", flat=True))
                if there:
                    Connection.objects.filter(participant_id__in=there).update(connected_at=now, process=process)
                Connection.objects.bulk_create([Connection(participant_id=pid, connected_at=now, process=process)
                                                for pid in chunk if pid not in there])
    except IntegrityError:
        # another process made a row of one of them meanwhile: one by one
        for pid in participant_ids:
            Connection.objects.update_or_create(participant_id=pid,
                                                defaults={"connected_at": now, "process": process})


def _latest_states(infos):
    """{gk: the latest ``state`` Event} of many groups, in one query per app."""
    from .models import Event

    by_ct = {}
    for info in infos:
        by_ct.setdefault(info.ct_id, {})[info.pk] = info.gk
    latest = {}
    for ct_id, gks in by_ct.items():
        for chunk in _chunks(gks):
            for e in Event.objects.filter(content_type_id=ct_id, group_pk__in=chunk, channel="state"):
                gk = gks[e.group_pk]
                best = latest.get(gk)
                if best is None or (e.timestamp, e.id) > (best.timestamp, best.id):
                    latest[gk] = e
    return latest


def _map_frame(info, events):
    """The map a connecting socket starts from.

    The last stored ``group_decisions`` with its seq, never Redis's live map
    under a seq: Redis runs ahead of the database while a batch is being
    stored (and after a server is killed in that moment), and a frame must
    never carry a seq whose message the database does not hold.  Before the
    first stored map (sub-periods: until the first one ends) the live map
    goes without a seq.
    """
    last = events.filter(channel="group_decisions").exclude(seq=None).order_by("-seq").first()
    if last is not None:
        return [messaging.event_frame(last)]
    flat = redis_conn.get_sync().hgetall(info.decisions_key)
    if not flat:
        return []
    pairs = [(k.decode(), v.decode()) for k, v in flat.items()]
    return [protocol.frame("group_decisions", protocol.map_json(pairs))]


def _repair_period_end(info, started, latest_state):
    """Schedule a period end that is overdue but neither stored nor scheduled.

    A period end is in Redis until a scheduler claims it, then only in that
    process until it has run: a process killed in those few milliseconds
    loses it, and the group would wait for ever.  The sockets of that
    process reconnect, so their connect repairs it.  (end_period does
    nothing for a period that has ended, so a repair racing the real end is
    harmless.)
    """
    from .clock import epoch_ms

    if not info.period_length or started is None:
        return False
    if latest_state is not None and latest_state.value == protocol.STATE_PERIOD_END:
        return False
    due = epoch_ms(started) + float(info.period_length) * 1000.0
    if protocol.now_ms() < due + PERIOD_END_GRACE * 1000.0 or timers.is_scheduled(keys.period_end_timer(info.gk)):
        return False
    logger.warning("period end of %s was lost (due %.0f ms ago); ending the period now",
                   info.gk, protocol.now_ms() - due)
    timers.schedule_sync(keys.period_end_timer(info.gk), "period_end", info.gk, protocol.now_ms())
    return True


def frames_since(info, since_ms):
    """[(recipient id or None, frame)] of the group's server messages stored
    since shortly before ``since_ms`` (what a broken bus connection may have
    lost; clients drop the ones they have by their seq)."""
    from .models import Event
    from .clock import from_epoch_ms

    events = Event.objects.filter(content_type_id=info.ct_id, group_pk=info.pk, seq__isnull=False,
                                  timestamp__gte=from_epoch_ms(since_ms - 2000.0))
    newest = list(events.order_by("-seq")[:conf.get("REPLAY_LIMIT")])
    newest.reverse()
    return [(e.recipient_id, messaging.event_frame(e)) for e in newest]


def _missed(events, last_seq, participant_id, limit):
    from django.db.models import Q

    qs = events.filter(seq__gt=last_seq).filter(Q(recipient_id__isnull=True) | Q(recipient_id=participant_id))
    newest = list(qs.order_by("-seq")[:limit])
    newest.reverse()
    return newest


def ready_many(requests):
    """ready_phase() for many sockets [(info,)]: [(ok, ran or exception)].

    Which sockets are live is read for all their groups in two Redis round
    trips, and each group is checked once however many of its members are
    in the call.
    """
    infos = {}
    for (info,) in requests:
        infos[info.gk] = info  # the newest snapshot of the group
    live = live_sockets_many(infos.values())
    ran = {}
    for gk, info in infos.items():
        try:
            ran[gk] = (True, ready_phase(info, set(live[gk].values())))
        except Exception as exc:
            ran[gk] = (False, exc)
    return [ran[info.gk] for (info,) in requests]


def ready_phase(info, codes=None):
    """Run when_all_players_ready() once if every member is connected.

    ``codes``: the participants with a live socket, when already known.
    """
    if codes is None:
        codes = set(live_sockets(info).values())
    if not set(info.members) <= codes and not absent.may_start(info, codes):
        return False
    model = info.model
    t0 = protocol.now_ms()
    from .clock import from_epoch_ms

    try:
        with transaction.atomic():
            # the guard: one UPDATE that only one caller can win, whatever the
            # number of threads and processes that try at the same moment
            won = model.objects.filter(pk=info.pk, ran_ready_function__isnull=True).update(
                ran_ready_function=from_epoch_ms(t0)
            )
            if not won:
                return False
            # the session comes along: hooks such as period_length() read it
            group = model.objects.select_related("session").get(pk=info.pk)
            object.__setattr__(group, "_redwood_t0", t0)
            group.when_all_players_ready()
            # dated at t0: get_start_time() + period_length() is the due time
            # of period_end, to the millisecond
            messaging.send_sync(group, "state", protocol.STATE_PERIOD_START, timestamp=from_epoch_ms(t0))
            mode = state.decide_mode(info) if info.is_decision_group else None
            if mode in ("now", "rate"):
                # every member starts from the same map, whoever connected
                # first.  Not with sub-periods: as in 0.9.x, their maps are
                # exactly one per sub-period end.
                seq, map_json = state.snapshot_sync(info)
                messaging.send_sync(group, "group_decisions", messaging.RawJSON(map_json), seq=seq)
        timers.schedule_period_end(info, t0)
        if mode == "rate":
            timers.start_rate_limit(info, t0)
    except Exception:
        logger.exception("when_all_players_ready() of %s failed; it will run again on the next connect", info.gk)
        raise
    return True


def disconnect_phase(info, participant_id, participant_code, socket_id):
    """The socket is gone; if it was the member's last, run the hook."""
    from .models import Connection, Group

    r = redis_conn.get_sync()
    r.hdel(info.sockets_key, socket_id)
    if participant_code in set(live_sockets(info).values()):
        return False
    Connection.objects.filter(participant_id=participant_id).delete()
    if info.model.when_player_disconnects is Group.when_player_disconnects:
        # the hook does nothing: no need to load the group and the player
        # (a lab whose pages all move on at once closes every socket at once)
        return True
    group = info.model.objects.get(pk=info.pk)
    player = group.player_set.filter(participant_id=participant_id).first()
    if player is not None:
        try:
            group.when_player_disconnects(player)
        except Exception:
            logger.exception("when_player_disconnects() of %s failed", info.gk)
    return True


def refresh_live_state(group):
    """Give a freshly loaded DecisionGroup the live decisions from Redis."""
    from .models import DecisionGroup

    if isinstance(group, DecisionGroup):
        info = groups.info_for(group)
        live = state.read_decisions_sync(info)
        if live:
            object.__setattr__(group, "group_decisions", live)
            group._redwood_take_snapshot()
    return group


def end_period(group):
    """Close the period: last sub-period, last rate-limited map, then period_end."""
    info = groups.info_for(group)
    if group.events.filter(channel="state", value=protocol.STATE_PERIOD_END).exists():
        timers.cancel_group_sync(info.gk)
        return False
    refresh_live_state(group)
    if info.is_decision_group:
        # the row holds the final map, whichever process wrote last
        live = state.read_decisions_sync(info)
        if live:
            state._mirror_to_row(group, protocol.dumps(live))
        if info.num_subperiods and info.period_length:
            # the last sub-period ends here; so do any whose ticks were lost
            # with Redis and not re-armed in time: exactly one map each
            left = _subperiods_left(info, group)
            n = int(info.num_subperiods)
            for k in range(n - left, n):
                if info.custom_subperiod_tick:
                    group._subperiod_tick(k, float(n))  # the app's own, as 0.9.x called it
                    continue
                seq, map_json = state.snapshot_sync(info)
                if seq is not None:
                    write_subperiod(group, seq, map_json)
        elif info.rate_limit:
            seq, map_json = state.snapshot_sync(info, only_if_dirty=True)
            if seq is not None:
                messaging.send_sync(group, "group_decisions", messaging.RawJSON(map_json), seq=seq)
                state._mirror_to_row(group, map_json)
    timers.cancel_group_sync(info.gk)
    group.send("state", protocol.STATE_PERIOD_END)
    return True


def _subperiods_left(info, group):
    from .models import Event

    ended = 0
    if group.ran_ready_function is not None:
        ended = Event.objects.filter(content_type_id=info.ct_id, group_pk=info.pk, channel="group_decisions",
                                     timestamp__gte=group.ran_ready_function).count()
    return max(0, int(info.num_subperiods) - ended)


def write_subperiod(group, seq, map_json):
    import json

    value = json.loads(map_json)
    type(group).objects.filter(pk=group.pk).update(group_decisions=value, subperiod_group_decisions=value)
    messaging.send_sync(group, "group_decisions", messaging.RawJSON(map_json), seq=seq)
