"""The life of a group: connects, the once-only ready hook, periods, disconnects.

Each function here is synchronous database work, run in order by the
pipeline on its database thread (runtime.db_sync), never on the event loop.
Which sockets are connected is kept in Redis (one hash per group, one
heartbeat key per server process), so every process sees the same picture and
sockets of a process that died stop counting once its heartbeat expires.
"""
import logging

from . import absent, conf, decisions, errors, host, keys, livestate, messaging, protocol, redis_conn, state, timers

logger = logging.getLogger(__name__)

#: Seconds past its due time after which a period end that is neither stored
#: nor scheduled counts as lost (see _repair_period_end).
PERIOD_END_GRACE = 2.0


def process_alive_key(process_id):
    return keys.process_alive(process_id)


def clear_dead_connections():
    """Remove the connection records left by server processes that died; return how many."""
    h = host.current()
    procs = sorted(h.connection_processes())
    if not procs:
        return 0
    alive = redis_conn.get_sync().mget([process_alive_key(p) for p in procs])
    dead = [p for p, a in zip(procs, alive) if not a]
    return h.forget_processes(dead) if dead else 0


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
    """connect_phase() of many sockets: [(ok, frames or exception)].

    A request is ``(info, participant id, code, last seq)``, or with a fifth
    item ``(socket id, process id)``: the socket is entered among its group's
    live sockets first (one Redis pipeline for the call).  The work shared by
    the sockets (Connection rows, the groups' start times, their latest state
    and map, the Redis seeding check) is done once per call or per group,
    not once per socket.
    """
    h = host.current()
    entries = [(req[0], req[2], req[4]) for req in requests if len(req) > 4 and req[4] is not None]
    if entries:
        pipe = redis_conn.get_sync().pipeline(transaction=False)
        for info, code, (socket_id, process_id) in entries:
            pipe.hset(info.sockets_key, socket_id, "%s|%s" % (code, process_id))
        pipe.execute()
    requests = [req[:4] for req in requests]
    h.record_connections({pid for _, pid, _, _ in requests}, timers.process_token())
    infos = {}
    for info, _, _, _ in requests:
        infos[info.gk] = info
    started = h.start_times(infos.values())
    livestate.seed_groups([(info, 0) for info in infos.values()])
    # what each socket missed is read before the group's latest state and
    # map, as for one socket alone: the map is never older than the replay
    replays = []
    limit = conf.get("REPLAY_LIMIT")
    for info, participant_id, _, last_seq in requests:
        try:
            frames = []
            if last_seq is not None:
                frames.extend(messaging.event_frame(e) for e in h.missed(info, last_seq, participant_id, limit))
            replays.append((True, frames))
        except Exception as exc:
            logger.exception("redwood replay for %s failed", info.gk)
            replays.append((False, exc))
    latest = h.latest_states(infos.values())
    maps = h.last_maps([info for info in infos.values() if info.is_decision_group])
    live_maps = _live_maps([info for info in infos.values() if info.is_decision_group and maps.get(info.gk) is None])
    shared, failed = {}, {}
    for gk, info in infos.items():
        try:
            if gk not in started:
                raise errors.GroupGone(gk)
            frames = []
            latest_state = latest.get(gk)
            if latest_state is not None:
                frames.append(messaging.event_frame(latest_state))
            _repair_period_end(info, started[gk], latest_state)
            if info.is_decision_group:
                frames.extend(_map_frame(maps.get(gk), live_maps.get(gk)))
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


def _live_maps(infos):
    """{gk: Redis's live map (raw hash)} of these groups, in one round trip."""
    if not infos:
        return {}
    pipe = redis_conn.get_sync().pipeline(transaction=False)
    for info in infos:
        pipe.hgetall(info.decisions_key)
    return {info.gk: flat for info, flat in zip(infos, pipe.execute())}


def _map_frame(last, flat):
    """The map a connecting socket starts from.

    The last stored ``group_decisions`` (``last``) with its seq, never
    Redis's live map (``flat``) under a seq: Redis runs ahead of the database
    while a batch is being stored (and after a server is killed in that
    moment), and a frame must never carry a seq whose message the database
    does not hold.  Before the first stored map (sub-periods: until the
    first one ends) the live map goes without a seq.
    """
    if last is not None:
        return [messaging.event_frame(last)]
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
    if not info.period_length or started is None:
        return False
    if latest_state is not None and latest_state.value == protocol.STATE_PERIOD_END:
        return False
    due = started + float(info.period_length) * 1000.0
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
    events = host.current().recent(info, since_ms - 2000.0, conf.get("REPLAY_LIMIT"))
    return [(e.recipient_id, messaging.event_frame(e)) for e in events]


def ready_many(requests):
    """ready_phase() for many sockets [(info,)]: [(ok, ran or exception)].

    Which sockets are live is read for all their groups in two Redis round
    trips, each group is checked once however many of its members are in
    the call, and the groups that may start are started together
    (_start_many): when a lab connects at once, a few queries and one
    transaction serve dozens of groups.
    """
    infos = {}
    for (info,) in requests:
        infos[info.gk] = info  # the newest snapshot of the group
    live = live_sockets_many(infos.values())
    ran, due = {}, []
    for gk, info in infos.items():
        try:
            if _may_start(info, set(live[gk].values())):
                due.append(info)
            else:
                ran[gk] = (True, False)
        except Exception as exc:
            ran[gk] = (False, exc)
    if due:
        ran.update(_start_many(due))
    return [ran[info.gk] for (info,) in requests]


def ready_phase(info, codes=None):
    """Run when_all_players_ready() once if every member is connected.

    ``codes``: the participants with a live socket, when already known.
    Returns whether this call started the period; raises what the hook raised.
    """
    if codes is None:
        codes = set(live_sockets(info).values())
    if not _may_start(info, codes):
        return False
    ok, value = _start_many([info])[info.gk]
    if not ok:
        raise value
    return value


def _may_start(info, codes):
    return set(info.members) <= codes or absent.may_start(info, codes)


#: Groups started in one transaction.  On SQLite a transaction holds the
#: write lock from its start, so the pipeline's commits wait for it: a lab of
#: 500 groups goes in chunks, between which live traffic gets its turn.
START_CHUNK = 50


def _start_many(infos):
    """Start the periods of these groups unless they have started: {gk: (ok, started or exception)}."""
    out = {}
    for i in range(0, len(infos), START_CHUNK):
        out.update(_start_chunk(infos[i:i + START_CHUNK]))
    return out


def _start_chunk(infos):
    """One transaction for the chunk, each group in a savepoint of its own: a
    hook that raises undoes only its group's start (which runs again on the
    next connect).  The guard is one UPDATE per group that only one caller
    can win, whatever the number of threads and processes trying at once.
    """
    h = host.current()
    out, started = {}, []
    # what the starts publish (period_start, the first maps, what the hooks
    # send) goes out in one Redis pipeline once the chunk is committed; a
    # group whose savepoint is undone takes its messages back
    outer, batch = messaging.current_batch(), messaging.Batch()
    rows = []  # the starts' own messages (period_start, first map), stored together
    try:
        with h.atomic(), messaging.batch_context(batch):
            loaded = h.load_for_ready(infos)
            for info in infos:
                group = loaded.get(info.gk)
                if group is None:  # started already (or gone)
                    out[info.gk] = (True, False)
                    continue
                t0 = protocol.now_ms()
                mark, row_mark = len(batch.outbox), len(rows)
                try:
                    with h.atomic():
                        mode = _start(h, info, group, t0, rows)
                except Exception as exc:
                    del batch.outbox[mark:]
                    del rows[row_mark:]
                    logger.exception("when_all_players_ready() of %s failed; it will run again on the next "
                                     "connect", info.gk)
                    out[info.gk] = (False, exc)
                    continue
                out[info.gk] = (True, mode is not None)
                if mode is not None:
                    started.append((info, t0, mode))
            h.insert_events(rows)
    except Exception as exc:
        logger.exception("starting %d group(s) failed", len(infos))
        return {info.gk: (False, exc) for info in infos}
    if outer is not None:
        outer.outbox.extend(batch.outbox)
    elif batch.outbox:
        h.on_commit(lambda: messaging.publish_many(batch.outbox))
    for info, t0, mode in started:
        timers.schedule_period_end(info, t0)
        if mode == "rate":
            timers.start_rate_limit(info, t0)
    return out


def _start(h, info, group, t0, rows):
    """The start of one period, in its savepoint: the mode of a started group, or None if another caller won.

    Its own messages are appended to ``rows`` (stored with the chunk's,
    before the commit); what the hook sends is stored as it sends it.
    """
    if not h.claim_loaded(info, group, t0):
        return None
    object.__setattr__(group, "_redwood_t0", t0)
    group.when_all_players_ready()
    # dated at t0: get_start_time() + period_length() is the due time of
    # period_end, to the millisecond
    messaging.send_sync(group, "state", protocol.STATE_PERIOD_START, t_ms=t0, rows=rows)
    mode = state.decide_mode(info) if info.is_decision_group else ""
    if mode in ("now", "rate"):
        # every member starts from the same map, whoever connected first.
        # Not with sub-periods: as in 0.9.x, their maps are exactly one per
        # sub-period end.
        seq, map_json = livestate.snapshot_sync(info)
        messaging.send_sync(group, "group_decisions", messaging.RawJSON(map_json), seq=seq, rows=rows)
    return mode


def disconnect_phase(info, participant_id, participant_code, socket_id):
    """The socket is gone; if it was the member's last, run the hook."""
    h = host.current()
    r = redis_conn.get_sync()
    r.hdel(info.sockets_key, socket_id)
    if participant_code in set(live_sockets(info).values()):
        return False
    h.forget_connection(participant_id)
    if info.default_disconnect_hook:
        # the hook does nothing: no need to load the group and the player
        # (a lab whose pages all move on at once closes every socket at once)
        return True
    group = h.load_group(info.gk)
    player = h.player_of(group, participant_id)
    if player is not None:
        try:
            group.when_player_disconnects(player)
        except Exception:
            logger.exception("when_player_disconnects() of %s failed", info.gk)
    return True


def refresh_live_state(group):
    """Give a freshly loaded DecisionGroup the live decisions from Redis."""
    h = host.current()
    info = h.info_for(group)
    if info.is_decision_group:
        live = livestate.read_decisions_sync(info)
        if live:
            h.set_live(group, {"group_decisions": live})
    return group


def end_period(group):
    """Close the period: last sub-period, last rate-limited map, then period_end."""
    h = host.current()
    info = h.info_for(group)
    if h.period_ended(info):
        _cancel_timers(info.gk)
        return False
    refresh_live_state(group)
    if info.is_decision_group:
        # the row holds the final map, whichever process wrote last
        live = livestate.read_decisions_sync(info)
        if live:
            decisions.mirror_to_row(group, protocol.dumps(live))
        if info.num_subperiods and info.period_length:
            # the last sub-period ends here; so do any whose ticks were lost
            # with Redis and not re-armed in time: exactly one map each
            left = _subperiods_left(info, group)
            n = int(info.num_subperiods)
            for k in range(n - left, n):
                if info.custom_subperiod_tick:
                    group._subperiod_tick(k, float(n))  # the app's own, as 0.9.x called it
                    continue
                seq, map_json = livestate.snapshot_sync(info)
                if seq is not None:
                    write_subperiod(group, seq, map_json)
        elif info.rate_limit:
            seq, map_json = livestate.snapshot_sync(info, only_if_dirty=True)
            if seq is not None:
                messaging.send_sync(group, "group_decisions", messaging.RawJSON(map_json), seq=seq)
                decisions.mirror_to_row(group, map_json)
    _cancel_timers(info.gk)
    group.send("state", protocol.STATE_PERIOD_END)
    return True


def _cancel_timers(gk):
    """Every timer of the group, and its emitters' records (the period is over)."""
    timers.cancel_group_sync(gk)
    host.current().delete_emitters(gk)


def _subperiods_left(info, group):
    ended = 0
    started = host.current().start_times([info]).get(info.gk)
    if started is not None:
        ended = host.current().maps_since(info, started)
    return max(0, int(info.num_subperiods) - ended)


def write_subperiod(group, seq, map_json):
    import json

    value = json.loads(map_json)
    host.current().write_group(group, {"group_decisions": value, "subperiod_group_decisions": dict(value)})
    messaging.send_sync(group, "group_decisions", messaging.RawJSON(map_json), seq=seq)
