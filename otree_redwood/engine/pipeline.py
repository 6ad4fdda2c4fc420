"""The pipeline: inbound messages and fired timers, processed in arrival order, in batches.

Phase 1: the group state of the whole batch in Redis, one round trip.
Phase 2: one database transaction that stores every event of the batch, then
runs the app's handlers and the timers' actions, each in its own savepoint.
Phase 3: one Redis round trip that publishes what the batch stored.  Batches
grow with the load, so the cost per message falls as the load rises.  Items
are typed: an ``Inbound`` message of a socket, a fired ``TimerTick``, a
``Call`` of synchronous lifecycle work.
"""
import asyncio
import collections
import logging
import time

from redis import exceptions as redis_exceptions

from . import absent, actions, conf, host, lifecycle, livestate, messaging, protocol, state

logger = logging.getLogger(__name__)

# The group row's copy of group_decisions is written at most this often (and
# before any handler, timer or lifecycle step runs): one UPDATE per group per
# batch made small batches cost two writes per decision.  Redis holds the live
# map; code that runs on the server always sees it fresh.
ROW_FLUSH_SECONDS = 0.25


# A batch this large means the pipeline is behind: see _process.
OVERLOAD_BATCH = 64


class Item:
    """One unit of the pipeline's work; see Inbound, TimerTick and Call."""

    kind = None
    __slots__ = ("sock", "info", "channel", "payload", "value_json", "t_ms",
                 "tick", "fn", "args", "future", "frames", "reply", "due_late", "stored",
                 "pre_stored", "quiet")

    def __init__(self, **kw):
        for name in Item.__slots__:  # (a subclass's own __slots__ is empty)
            setattr(self, name, kw.get(name))
        self.frames = []


class Inbound(Item):
    """A message a socket received: stored, then applied (decisions) or handed to its handler."""

    kind = "in"
    __slots__ = ()


class TimerTick(Item):
    """A fired timer (``tick``: period end, sub-period, rate limit, emitter, absent start)."""

    kind = "tick"
    __slots__ = ()


class Call(Item):
    """Synchronous work (``fn(*args)``) run in order with the pipeline's; its ``future`` gets the result."""

    kind = "call"
    __slots__ = ()


class Stats:
    """Figures of this process for benchmarks and the monitor."""

    def __init__(self):
        self.inbound = 0
        self.batches = 0
        self.batch_items = 0
        self.published = 0
        self.lateness = collections.deque(maxlen=100000)
        self.fired = collections.Counter()
        self.per_group_in = collections.Counter()


class Pipeline:
    """The pipeline part of a Runtime (see the module doc)."""

    def submit_inbound(self, sock, channel, payload):
        self.stats.inbound += 1
        self.stats.per_group_in[sock.info.gk] += 1
        item = Inbound(sock=sock, info=sock.info, channel=channel, payload=payload, t_ms=protocol.now_ms())
        self.queue.append(item)
        self.work.set()

    def submit_tick(self, tick):
        self.queue.append(TimerTick(tick=tick))
        self.work.set()

    async def call(self, fn, *args):
        """Run ``fn(*args)`` in order with the pipeline's database work."""
        fut = self.loop.create_future()
        self.queue.append(Call(fn=fn, args=args, future=fut))
        self.work.set()
        return await fut

    async def _worker(self):
        max_batch = conf.get("MAX_BATCH")
        while not self.closed:
            if not self.queue:
                self.work.clear()
                if not self.row_backlog:
                    await self.work.wait()
                    continue
                try:
                    await asyncio.wait_for(self.work.wait(), ROW_FLUSH_SECONDS)
                except asyncio.TimeoutError:
                    try:
                        await db_sync(self._flush_rows)()
                    except Exception:
                        logger.exception("redwood pipeline: writing group rows failed")
                continue
            n = min(len(self.queue), max_batch)
            batch = [self.queue.popleft() for _ in range(n)]
            self.busy = True
            try:
                await self._process(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("redwood pipeline: batch of %d failed", len(batch))
                if len(batch) > 1:
                    # one poison item must not fail the others: each again, alone
                    await self._isolate(batch)
                else:
                    _fail_item(batch[0])
            finally:
                self.busy = False
            for item in batch:
                if isinstance(item, Inbound):
                    if item.reply:
                        item.sock.deliver(item.reply)
                    item.sock.processed()

    async def _isolate(self, batch):
        """Process the items of a failed batch one at a time.

        Only the item that fails again is reported (to its sender); the rest
        are stored and published as if nothing happened.  Items whose
        database work had committed before the failure are not run twice:
        their frames are published again, their callers answered.
        """
        for item in batch:
            if item.stored:
                try:
                    if item.frames:
                        pub = self.redis.pipeline(transaction=False)
                        for ch, message in item.frames:
                            pub.publish(ch, message)
                        await pub.execute()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("redwood pipeline: publishing a stored item failed")
                _answer_call(item)
                continue
            item.frames = []
            try:
                await self._process([item])
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("redwood pipeline: %s item failed alone", item.kind)
                _fail_item(item)

    async def _process(self, batch):
        self.stats.batches += 1
        self.stats.batch_items += len(batch)
        now = protocol.now_ms()
        # phase 1: group state in Redis, one round trip for the batch
        calls = []  # (item, script name, keys, args)
        last_of_group = None
        if len(batch) >= OVERLOAD_BATCH:
            # Overloaded: every decision and the map after it are stored (as
            # 0.9.x stored them: payoff code may count maps), but a group gets
            # one broadcast per batch (its map after the batch's last
            # decision) instead of one per decision.  Clients need the latest
            # map; the queue drains faster, so they converge soon after a burst.
            last_of_group = {}
            for item in batch:
                if isinstance(item, Inbound) and item.channel == "decisions" and item.info.fast_decisions:
                    last_of_group[item.info.gk] = item
        snapshots = [item for item in batch
                     if isinstance(item, TimerTick) and item.tick.kind in ("subperiod", "ratelimit")]
        missing = set()
        for item in snapshots:
            item.info = _cached_info(item.tick.gk)
            if item.info is None:
                missing.add(item.tick.gk)
        if missing:
            # groups without a socket in this process: one trip to the sync
            # thread for all of them, not one per tick
            await db_sync(_load_infos)(missing)
            for item in snapshots:
                if item.info is None:
                    item.info = _cached_info(item.tick.gk)
        for item in batch:
            if isinstance(item, Inbound) and item.channel == "decisions" and item.info.fast_decisions:
                item.value_json = protocol.dumps(item.payload)
                keys, args = state.decide_args(item.info, item.sock.participant_code, item.value_json, now)
                item.quiet = last_of_group is not None and last_of_group[item.info.gk] is not item
                calls.append((item, "decide", keys, args))
            elif _is_snapshot(item):
                info = item.info
                if info is None:  # the group is gone: nothing to snapshot
                    continue
                keys = [info.decisions_key, info.seq_key, info.ratelimit_key]
                args = [repr(now), "1" if item.tick.kind == "ratelimit" else "0"]
                calls.append((item, "snapshot", keys, args))
        results = {}
        live_maps = {}
        if calls:
            # The decisions are committed before Redis applies them: a server
            # killed between the two must not leave in Redis (and so in every
            # later map) a decision that the database never got.
            fresh = [item for item, name, _, _ in calls if name == "decide" and not item.pre_stored]
            if fresh:
                await db_sync(_store_decisions)(fresh)
            replies = await self._run_scripts(calls)
            replies = await self._seed_and_retry(calls, replies)
            for (item, _, _, _), res in zip(calls, replies):
                results[id(item)] = state.parse_result(res)
                live = state.live_map(res)
                if live is not None:
                    live_maps[id(item)] = live
                if state.not_started(res):
                    _warn_before_start(item)
        for item in batch:
            if isinstance(item, TimerTick):
                late = now - item.tick.due_ms
                item.due_late = late
                self.stats.lateness.append(late)
                self.stats.fired[item.tick.kind] += 1
        # phase 2: the database, on the sync thread
        outbox = await db_sync(self._db_phase)(batch, results, now, live_maps)
        for item in batch:
            item.stored = True  # committed: a later failure must not run it again
        # phase 3: publish what was stored
        lateness = [i for i in batch if isinstance(i, TimerTick)]
        if outbox or lateness:
            pub = self.redis.pipeline(transaction=False)
            for ch, message in outbox:
                pub.publish(ch, message)
            if lateness:
                key = self.lateness_key
                # "kind|timer id|due ms|lateness ms", newest first (benchmarks, tests)
                pub.lpush(key, *["%s|%s|%.1f|%.3f" % (i.tick.kind, i.tick.id, i.tick.due_ms, i.due_late)
                                 for i in lateness])
                pub.ltrim(key, 0, 199999)
            await pub.execute()
            self.stats.published += len(outbox)
        for item in batch:
            _answer_call(item)

    async def _seed_and_retry(self, calls, replies):
        """Seed the groups whose state Redis lost (state.NEED_SEED); run their calls again.

        A group's calls are run again from its first that found nothing, in
        order, so the map ends as the batch's decisions leave it.
        """
        for _ in range(3):
            first = {}
            for i, ((item, _, _, _), res) in enumerate(zip(calls, replies)):
                if state.needs_seed(res) and item.info.gk not in first:
                    first[item.info.gk] = i
            if not first:
                return replies
            floors, infos = {}, {}
            for i, ((item, _, _, _), res) in enumerate(zip(calls, replies)):
                gk = item.info.gk
                if gk in first:
                    infos[gk] = item.info
                    if i < first[gk] and int(res[0]) > 0:
                        floors[gk] = max(floors.get(gk, 0), int(res[0]))
            logger.warning("redwood: Redis has no state of %d group(s); seeding from the database", len(first))
            await db_sync(livestate.seed_groups)([(infos[gk], floors.get(gk, 0)) for gk in first])
            redo = [i for i, (item, _, _, _) in enumerate(calls)
                    if item.info.gk in first and i >= first[item.info.gk]]
            again = await self._run_scripts([calls[i] for i in redo])
            replies = list(replies)
            for i, res in zip(redo, again):
                replies[i] = res
        raise RuntimeError("Redis state could not be seeded")

    async def _run_scripts(self, calls):
        """EVALSHA every call in one pipeline; load the scripts only when needed.

        (redis-py's Script objects send SCRIPT EXISTS before every pipeline:
        a second round trip per batch.)
        """
        for attempt in (1, 2):
            if not self._shas:
                for name, source in (("decide", state.DECIDE_LUA), ("snapshot", state.SNAPSHOT_LUA)):
                    self._shas[name] = await self.redis.script_load(source)
            pipe = self.redis.pipeline(transaction=False)
            for _, name, script_keys, args in calls:
                pipe.evalsha(self._shas[name], len(script_keys), *script_keys, *args)
            try:
                return await pipe.execute()
            except redis_exceptions.NoScriptError:
                if attempt == 2:
                    raise
                self._shas.clear()  # Redis restarted or flushed its scripts

    def _db_phase(self, batch, results, now, live_maps=None):
        """Store the batch; run handlers and timer actions; return the outbox.

        ``live_maps``: {id(item): map JSON} of decisions that changed a map
        without a broadcast (sub-periods, rate limits).
        """
        live_maps = live_maps or {}
        rows = []
        row_updates = {}
        sync_items = []
        spans = []  # (item, first row, end): the rows each item adds
        for item in batch:
            first_row = len(rows)
            if isinstance(item, Inbound) and item.value_json is not None:
                info = item.info  # the decision itself is stored already (_store_decisions)
                seq, map_json = results.get(id(item), (None, None))
                if seq is not None:
                    self._outbound(rows, row_updates, item, info, seq, map_json, now, subperiod=False)
                elif id(item) in live_maps:
                    # sub-periods or a rate limit: nothing is broadcast now, but
                    # the group row follows every decision, as in 0.9.x
                    row_updates.setdefault((info.model, info.pk), {})["group_decisions"] = \
                        messaging.RawJSON(live_maps[id(item)])
            elif _is_snapshot(item):
                seq, map_json = results.get(id(item), (None, None))
                if seq is not None:
                    self._outbound(rows, row_updates, item, item.info, seq, map_json, now,
                                   subperiod=item.tick.kind == "subperiod")
            else:
                sync_items.append(item)
            if len(rows) > first_row:
                spans.append((item, first_row, len(rows)))
        for key, fields in row_updates.items():
            self.row_backlog.setdefault(key, {}).update(fields)
        due = sync_items or time.monotonic() - self.row_flushed_at >= ROW_FLUSH_SECONDS
        if rows or (due and self.row_backlog):
            try:
                with host.current().atomic():
                    host.current().insert_events(rows)
                    if due:
                        self._flush_rows()
            except Exception:
                if len(spans) <= 1 and not (due and self.row_backlog):
                    raise
                logger.exception("redwood pipeline: storing %d events in one transaction failed; "
                                 "storing them item by item", len(rows))
                self._store_each(rows, spans, due)
        batch_ctx = messaging.Batch()
        with messaging.batch_context(batch_ctx):
            for item in sync_items:
                mark = len(batch_ctx.outbox)
                try:
                    self._run_sync_item(item)
                except Exception as exc:
                    del batch_ctx.outbox[mark:]
                    if isinstance(item, Inbound):
                        logger.exception("handler _on_%s_event of %s failed", item.channel, item.info.gk)
                        item.reply = protocol.error_frame(
                            "handler failed: %s: %s" % (type(exc).__name__, exc), channel=item.channel
                        )
                    elif isinstance(item, Call):
                        item.reply = exc
                    else:
                        logger.exception("timer %r failed", item.tick)
                item.frames = batch_ctx.outbox[mark:]
        # publish in arrival order
        outbox = []
        for item in batch:
            outbox.extend(item.frames)
        return outbox

    def _store_each(self, rows, spans, due):
        """The batch transaction failed: store each item's rows on their own.

        An item whose rows fail again is told so and publishes nothing (what
        is not stored is never broadcast); the others are unaffected.
        """
        for item, first, end in spans:
            try:
                with host.current().atomic():
                    host.current().insert_events(rows[first:end])
            except Exception as exc:
                logger.exception("redwood pipeline: storing a %s item failed", item.kind)
                item.frames = []
                if isinstance(item, Inbound):
                    item.reply = protocol.error_frame(
                        "server error: message not stored (%s)" % type(exc).__name__, channel=item.channel
                    )
        if due:
            try:
                with host.current().atomic():
                    self._flush_rows()
            except Exception:
                # the row mirrors Redis; the next flush writes the newer map
                logger.exception("redwood pipeline: writing group rows failed")

    def _flush_rows(self):
        """Write the latest maps of every waiting group to its row (sync).

        One UPDATE ... CASE statement per model and set of fields (at most
        200 rows each), whatever the number of groups.
        """
        backlog, self.row_backlog = self.row_backlog, {}
        self.row_flushed_at = time.monotonic()
        if backlog:
            host.current().update_rows(backlog)

    def _outbound(self, rows, row_updates, item, info, seq, map_json, now, subperiod):
        # the map is JSON text from Redis: stored and sent as it is
        value = messaging.RawJSON(map_json)
        rows.append((now, info, "group_decisions", None, map_json, seq))
        fields = row_updates.setdefault((info.model, info.pk), {})
        fields["group_decisions"] = value
        if subperiod:
            fields["subperiod_group_decisions"] = value
        if item.quiet:
            return  # superseded within an overloaded batch: stored, not sent
        frame = protocol.frame("group_decisions", map_json, seq=seq, ts=now)
        item.frames = [(info.bus, messaging.bus_message(None, frame))]

    def _run_sync_item(self, item):
        h = host.current()
        if isinstance(item, Inbound):
            h.dispatch(item, lifecycle.refresh_live_state)
        elif isinstance(item, TimerTick):
            tick = item.tick
            with h.atomic():
                if tick.kind == "period_end":
                    actions.run_period_end(tick.gk)
                elif tick.kind == "emitter":
                    actions.run_emitter(tick)
                elif tick.kind == "subperiod":
                    actions.run_subperiod(tick)
                elif tick.kind == absent.TIMER_KIND:
                    actions.run_absent_timer(tick)
                else:
                    logger.warning("unknown timer kind %r", tick.kind)
        elif isinstance(item, Call):
            with h.atomic():
                item.reply = item.fn(*item.args)


def db_sync(fn):
    """``fn`` as an async callable run on the host's database thread, in order."""
    return host.current().db_sync(fn)


def _store_decisions(items):
    """Commit the ``decisions`` events of a batch (before Redis applies them)."""
    rows = [(i.t_ms, i.info, "decisions", i.sock.participant_id, i.value_json, None) for i in items]
    h = host.current()
    with h.atomic():
        h.insert_events(rows)
    for item in items:
        item.pre_stored = True


def _answer_call(item):
    """Give a Call's future its result (or exception), once."""
    if isinstance(item, Call) and not item.future.done():
        if isinstance(item.reply, BaseException):
            item.future.set_exception(item.reply)
        else:
            item.future.set_result(item.reply)
        item.reply = None


def _is_snapshot(item):
    """A fired timer whose whole work is one Redis snapshot (no app code runs).

    A sub-period end of an app that overrides ``_subperiod_tick`` (as 0.9.x
    apps may, to act at each sub-period end) runs that method instead.
    """
    if not isinstance(item, TimerTick) or item.tick.kind not in ("subperiod", "ratelimit"):
        return False
    return not (item.tick.kind == "subperiod" and item.info is not None
                and item.info.custom_subperiod_tick)


_warned_before_start = set()


def _warn_before_start(item):
    """0.9.x logged each decision it ignored before the period; once per member is enough."""
    key = (item.info.gk, item.sock.participant_code)
    if key not in _warned_before_start:
        _warned_before_start.add(key)
        logger.warning("ignoring decisions of %s in %s: when_all_players_ready has not run yet "
                       "(stored, not applied)", item.sock.participant_code, item.info.gk)


def _fail_item(item):
    """Report an item that could not be processed (to its sender or caller)."""
    if isinstance(item, Inbound):
        item.reply = protocol.error_frame("server error: message not stored", channel=item.channel)
    elif isinstance(item, Call) and not item.future.done():
        item.future.set_exception(RuntimeError("pipeline batch failed"))
    elif isinstance(item, TimerTick):
        logger.error("redwood pipeline: timer %r failed", item.tick)


def _cached_info(gk):
    return host.current().cached_info(gk)


def _load_infos(gks):
    """Build (and cache) the GroupInfo of each group key (and its siblings)."""
    host.current().build_infos(gks)
    for gk in gks:
        if _cached_info(gk) is None:
            logger.warning("timer for %s: the group no longer exists", gk)

