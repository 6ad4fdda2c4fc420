"""The per-process real-time engine: bus, pipeline, scheduler, heartbeat.

One ``Runtime`` lives on each event loop (one per server process):

* the **bus**: one Redis pub/sub connection, subscribed to the groups that
  have a socket in this process; a frame published for a group reaches every
  local member socket through its outbox;
* the **pipeline**: one task that takes inbound messages and fired timers in
  arrival order, in batches: one Redis round trip for the group state of the
  whole batch, one database transaction that stores every event of the batch
  (then runs the app's handlers, each in its own savepoint), and one Redis
  round trip that publishes what the batch produced.  Batches grow with the
  load, so the cost per message falls as the load rises;
* the **scheduler**: claims due timers (timers.py) and feeds them to the
  pipeline;
* the **heartbeat**: marks the process alive in Redis (sockets of a process
  whose heartbeat expired stop counting as connected) and reports live
  figures to the admin monitor.
"""
import asyncio
import collections
import concurrent.futures
import gc
import logging
import threading
import time
import uuid
import weakref

from asgiref.sync import sync_to_async
from redis import exceptions as redis_exceptions
from django.db import transaction

from . import absent, conf, keys, lifecycle, messaging, protocol, redis_conn, state, timers
from .models import Event

logger = logging.getLogger(__name__)

_runtimes = {}

# The group row's copy of group_decisions is written at most this often (and
# before any handler, timer or lifecycle step runs): one UPDATE per group per
# batch made small batches cost two writes per decision.  Redis holds the live
# map; code that runs on the server always sees it fresh.
ROW_FLUSH_SECONDS = 0.25

# A batch this large means the pipeline is behind: see _process.
OVERLOAD_BATCH = 64


def get_runtime():
    loop = asyncio.get_event_loop()
    rt = _runtimes.get(loop)
    if rt is None or rt.closed:
        rt = Runtime(loop)
        _runtimes[loop] = rt
    return rt


async def ensure_started():
    rt = get_runtime()
    await rt.start()
    return rt


#: gc thresholds with GC_TUNING (Python's defaults: 700, 10, 10)
GC_THRESHOLDS = (700, 20, 100)
_gc_tuned = False


def tune_gc():
    """Freeze what exists now out of later collections; collect less often.

    A full collection scans every tracked object: with a server's code and
    1,000 open sockets it paused everything for 150-250 ms, every few
    seconds at 500 decisions/s.  Run once per process, at start-up (the
    collection before the freeze is its one pause).
    """
    global _gc_tuned
    if _gc_tuned or not conf.get("GC_TUNING"):
        return False
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return True


def wake_local_schedulers():
    for rt in list(_runtimes.values()):
        if rt.started and not rt.closed and not rt.loop.is_closed():
            try:
                rt.loop.call_soon_threadsafe(rt.timer_wake.set)
            except RuntimeError:
                pass


_db_executor = None
_db_executor_lock = threading.Lock()


def _own_db_thread():
    """Whether the pipeline gets a database thread (and connection) of its own.

    Not on an in-memory database (oTree's devserver): it lives in one
    connection's shared cache, whose table locks do not wait.
    """
    from django.db import connection

    return "memory" not in str(connection.settings_dict.get("NAME", ""))


def _executor():
    global _db_executor
    with _db_executor_lock:
        if _db_executor is None:
            _db_executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="redwood-db")
        return _db_executor


def _in_db_thread(fn, args):
    from django.db import connection
    from django.db.utils import InterfaceError, OperationalError

    try:
        return fn(*args)
    except (InterfaceError, OperationalError):
        # a broken connection (database restarted, network): the next call
        # opens a new one
        if not connection.in_atomic_block:
            connection.close()
        raise


def db_sync(fn):
    """Run the sync callable ``fn`` in the pipeline's database thread.

    The pipeline's database work runs, in order, on one thread of its own
    with its own connection, kept open between batches.  oTree's pages and
    exports run on oTree's sync thread, so a long export or a slow page
    cannot hold up the live traffic (and oTree closing its connection after
    each request does not close ours).
    """
    if not _own_db_thread():
        return sync_to_async(fn, thread_sensitive=True)

    async def run(*args):
        return await asyncio.get_event_loop().run_in_executor(_executor(), _in_db_thread, fn, args)

    return run


_handshake_executor = None
#: Threads (each with its own database connection) for the database work of
#: handshakes (authorize, connect, ready check).  One: the handshakes of a
#: group then take turns in arrival order, as they did in the pipeline, so
#: a socket's initial frames never overtake what another member's ready
#: check sends (the work holds the GIL most of the time: more threads did
#: not connect a lab faster).
HANDSHAKE_THREADS = 1


def _atomic_call(fn, args):
    with transaction.atomic():
        return fn(*args)


def handshake_sync(fn, atomic=True):
    """Run a handshake's database work (``fn``, in a transaction) beside the pipeline.

    Handshakes run on threads of their own, so that a lab of participants
    connecting at once neither waits behind the live traffic's batches nor
    holds them up.  They read only what is committed and publish after they
    commit (messaging.send_sync), so no order with the pipeline is needed;
    the sockets of a group are already subscribed to its bus.  Without
    ``atomic``, ``fn`` runs in autocommit and opens its own transactions
    where it writes: on SQLite a transaction takes the write lock at BEGIN
    (dbtuning), and one held across a handshake's reads and Redis calls
    would hold up the pipeline's commits.
    """
    if not _own_db_thread():
        if not atomic:
            return sync_to_async(fn, thread_sensitive=True)

        def call(*args):
            return _atomic_call(fn, args)

        return sync_to_async(call, thread_sensitive=True)

    async def run(*args):
        global _handshake_executor
        with _db_executor_lock:
            if _handshake_executor is None:
                _handshake_executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=HANDSHAKE_THREADS, thread_name_prefix="redwood-handshake"
                )
        if atomic:
            fn_, args = _atomic_call, (fn, args)
        else:
            fn_ = fn
        return await asyncio.get_event_loop().run_in_executor(_handshake_executor, _in_db_thread, fn_, args)

    return run


def handshake_batch(fn_many):
    """Like handshake_sync, for work that is cheaper done for many sockets at once.

    ``fn_many(list of argument tuples)`` runs on the handshake thread and
    returns one ``(ok, value or exception)`` per tuple, in order.  Calls that
    arrive while the thread is busy wait and then go together in one call
    (arrival order kept): when a lab starts, a few queries serve the dozens
    of sockets that connected meanwhile instead of a few queries each.
    Calls of different kinds (``fn_many``) share the one thread, so each
    batch still runs before or after the others, never in between.
    """
    queues = weakref.WeakKeyDictionary()  # event loop -> calls waiting for the thread

    async def _one(args):
        try:
            return (await handshake_sync(fn_many, atomic=False)([args]))[0]
        except Exception as exc:
            return False, exc

    async def drain(pending):
        try:
            while pending:
                batch = pending[:]
                del pending[:]
                try:
                    results = await handshake_sync(fn_many, atomic=False)([args for args, _ in batch])
                except Exception as exc:
                    # the call failed as a whole (a query of the batch): one
                    # by one, so that only the socket that causes it fails
                    results = [(False, exc)] if len(batch) == 1 else [await _one(args) for args, _ in batch]
                for (_, fut), (ok, value) in zip(batch, results):
                    if fut.done():
                        continue
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)
        finally:
            queues.pop(asyncio.get_event_loop(), None)

    async def run(*args):
        loop = asyncio.get_event_loop()
        fut = loop.create_future()
        pending = queues.get(loop)
        if pending is None:
            pending = queues[loop] = []
            loop.create_task(drain(pending))
        pending.append((args, fut))
        return await fut

    return run


class Item:
    __slots__ = ("kind", "sock", "info", "channel", "payload", "value_json", "t_ms",
                 "tick", "fn", "args", "future", "frames", "reply", "due_late", "stored",
                 "pre_stored", "quiet")

    def __init__(self, kind, **kw):
        self.kind = kind
        for name in self.__slots__[1:]:
            setattr(self, name, kw.get(name))
        self.frames = []


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


class Runtime:
    """Everything real-time that one server process runs (see module doc)."""

    def __init__(self, loop):
        self.loop = loop
        self.process_id = timers.process_token()
        self.started = False
        self.closed = False
        self._start_lock = asyncio.Lock()
        self.local = collections.defaultdict(set)
        self._sub_waiters = {}
        self.queue = collections.deque()
        self.work = asyncio.Event()
        self.timer_wake = asyncio.Event()
        self.tasks = []
        self.scheduler_task = None
        self.busy = False       # the worker is processing a batch
        self.draining = False   # stop() is letting the pipeline finish
        self.stats = Stats()
        self.redis = None
        self.pubsub = None
        self.row_backlog = {}
        self.row_flushed_at = 0.0
        self._shas = {}
        self.lateness_key = None
        self.timers_epoch = None  # the sentinel of timers.py last seen
        self.bus_broken_at = None  # when the bus connection last failed (ms)

    # ---------------- start / stop ----------------
    async def start(self, scheduler=None):
        if self.started:
            return
        async with self._start_lock:
            if self.started:
                return
            self.redis = redis_conn.get_async()
            # every key carries the database's namespace: look it up here,
            # off the event loop, before the first key is made
            await db_sync(redis_conn.namespace)()
            self.wake_channel = keys.scheduler_wake()
            self.lateness_key = keys.timer_lateness()
            self.pubsub = self.redis.pubsub()
            await self.pubsub.subscribe(self.wake_channel)
            await self._beat()
            await db_sync(_clear_dead_connections)()
            self.tasks = [
                self.loop.create_task(self._reader()),
                self.loop.create_task(self._worker()),
                self.loop.create_task(self._heartbeat()),
            ]
            if scheduler is None:
                scheduler = conf.get("SCHEDULER_IN_SERVER")
            if scheduler:
                self.scheduler_task = self.loop.create_task(self._scheduler())
                self.tasks.append(self.scheduler_task)
            self.started = True
            tune_gc()
            logger.info("otree-redwood runtime %s started (scheduler: %s)", self.process_id, bool(scheduler))

    async def stop(self, drain_timeout=5.0):
        if self.started and not self.closed:
            await self._drain(drain_timeout)
        self.closed = True
        if self.row_backlog:
            try:
                await db_sync(self._flush_rows)()
            except Exception:
                logger.exception("redwood runtime: writing group rows at stop failed")
        for t in self.tasks:
            t.cancel()
        if self.tasks:
            # every loop also checks self.closed: a cancellation swallowed by
            # asyncio.wait_for (a known race in Python 3.8) cannot hang stop()
            done, pending = await asyncio.wait(self.tasks, timeout=5)
            for t in pending:
                logger.warning("redwood runtime task %r did not stop", t)
        self.tasks = []
        try:
            if self.pubsub is not None:
                await self.pubsub.aclose() if hasattr(self.pubsub, "aclose") else await self.pubsub.close()
            await self.redis.delete(lifecycle.process_alive_key(self.process_id))
        except Exception:
            pass
        if _runtimes.get(self.loop) is self:
            del _runtimes[self.loop]
        client = redis_conn.forget_loop(self.loop)
        if client is not None:
            try:
                await client.aclose() if hasattr(client, "aclose") else await client.close()
            except Exception:
                pass

    async def _drain(self, timeout):
        """Stop claiming timers; let the pipeline finish what it holds.

        Ticks already claimed from Redis exist only in this process: a stop
        that dropped them would lose them (a lost period end leaves a group
        stuck).  The scheduler is asked to stop, not cancelled, so a claim
        in flight completes and its ticks are queued.
        """
        self.draining = True
        self.timer_wake.set()
        deadline = self.loop.time() + timeout
        task = self.scheduler_task
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=max(0.0, deadline - self.loop.time()))
        worker = self.tasks[1] if len(self.tasks) > 1 else None
        while (self.queue or self.busy) and worker is not None and not worker.done():
            if self.loop.time() >= deadline:
                logger.warning("redwood runtime stopped with %d items not processed", len(self.queue))
                break
            await asyncio.sleep(0.01)

    # ---------------- bus ----------------
    async def attach(self, sock):
        ch = sock.info.bus
        subs = self.local[ch]
        subs.add(sock)
        waiter = self._sub_waiters.get(ch)
        if len(subs) == 1 and waiter is None:
            waiter = self.loop.create_future()
            self._sub_waiters[ch] = waiter
            await self.pubsub.subscribe(ch)
        if waiter is not None:
            await asyncio.wait_for(asyncio.shield(waiter), 10)

    async def detach(self, sock):
        ch = sock.info.bus
        subs = self.local.get(ch)
        if subs is None:
            return
        subs.discard(sock)
        if not subs:
            del self.local[ch]
            try:
                await self.pubsub.unsubscribe(ch)
            except Exception:
                logger.debug("unsubscribe failed", exc_info=True)

    async def _reader(self):
        while not self.closed:
            try:
                msg = await self.pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("redwood bus reader: Redis error; retrying")
                if self.bus_broken_at is None:
                    self.bus_broken_at = protocol.now_ms()
                await asyncio.sleep(0.5)
                continue
            if msg is None:
                continue
            kind = msg["type"]
            ch = msg["channel"]
            ch = ch.decode() if isinstance(ch, bytes) else ch
            if kind == "message":
                if ch == self.wake_channel:
                    self.timer_wake.set()
                    continue
                socks = self.local.get(ch)
                if not socks:
                    continue
                recipient, frame = messaging.split_bus_message(msg["data"])
                for sock in tuple(socks):
                    if recipient is None or sock.participant_code == recipient:
                        sock.deliver(frame)
            elif kind == "subscribe":
                waiter = self._sub_waiters.pop(ch, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(True)
                elif waiter is None and self.bus_broken_at is not None and self.local.get(ch):
                    # subscribed again after the connection broke: what was
                    # published meanwhile never came; send it from the database
                    self.loop.create_task(self._replay(ch, self.bus_broken_at))

    async def _replay(self, ch, since_ms):
        socks = self.local.get(ch)
        if not socks:
            return
        info = next(iter(socks)).info
        try:
            frames = await self.call(lifecycle.frames_since, info, since_ms)
        except Exception:
            logger.exception("redwood: replay to the sockets of %s failed", info.gk)
            return
        for sock in tuple(self.local.get(ch, ())):
            for recipient_id, frame in frames:
                if recipient_id is None or recipient_id == sock.participant_id:
                    sock.deliver(frame)
        # a later break of the connection starts its own window
        self.loop.call_later(5.0, self._bus_mended, since_ms)

    def _bus_mended(self, since_ms):
        if self.bus_broken_at == since_ms:
            self.bus_broken_at = None

    # ---------------- pipeline ----------------
    def submit_inbound(self, sock, channel, payload):
        self.stats.inbound += 1
        self.stats.per_group_in[sock.info.gk] += 1
        item = Item("in", sock=sock, info=sock.info, channel=channel, payload=payload, t_ms=protocol.now_ms())
        self.queue.append(item)
        self.work.set()

    def submit_tick(self, tick):
        self.queue.append(Item("tick", tick=tick))
        self.work.set()

    async def call(self, fn, *args):
        """Run ``fn(*args)`` in order with the pipeline's database work."""
        fut = self.loop.create_future()
        self.queue.append(Item("call", fn=fn, args=args, future=fut))
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
                if item.kind == "in":
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
                if item.kind == "call" and not item.future.done():
                    if isinstance(item.reply, BaseException):
                        item.future.set_exception(item.reply)
                    else:
                        item.future.set_result(item.reply)
                    item.reply = None
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
                if item.kind == "in" and item.channel == "decisions" and item.info.fast_decisions:
                    last_of_group[item.info.gk] = item
        snapshots = [item for item in batch if item.kind == "tick" and item.tick.kind in ("subperiod", "ratelimit")]
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
            if item.kind == "in" and item.channel == "decisions" and item.info.fast_decisions:
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
            if item.kind == "tick":
                late = now - item.tick.due_ms
                item.due_late = late
                self.stats.lateness.append(late)
                self.stats.fired[item.tick.kind] += 1
        # phase 2: the database, on the sync thread
        outbox = await db_sync(self._db_phase)(batch, results, now, live_maps)
        for item in batch:
            item.stored = True  # committed: a later failure must not run it again
        # phase 3: publish what was stored
        lateness = [i for i in batch if i.kind == "tick"]
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
            if item.kind == "call" and not item.future.done():
                if isinstance(item.reply, BaseException):
                    item.future.set_exception(item.reply)
                else:
                    item.future.set_result(item.reply)
                item.reply = None

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
            await db_sync(state.seed_groups)([(infos[gk], floors.get(gk, 0)) for gk in first])
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
            if item.kind == "in" and item.value_json is not None:
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
                with transaction.atomic():
                    _insert_events(rows)
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
                    if item.kind == "in":
                        logger.exception("handler _on_%s_event of %s failed", item.channel, item.info.gk)
                        item.reply = protocol.error_frame(
                            "handler failed: %s: %s" % (type(exc).__name__, exc), channel=item.channel
                        )
                    elif item.kind == "call":
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
                with transaction.atomic():
                    _insert_events(rows[first:end])
            except Exception as exc:
                logger.exception("redwood pipeline: storing a %s item failed", item.kind)
                item.frames = []
                if item.kind == "in":
                    item.reply = protocol.error_frame(
                        "server error: message not stored (%s)" % type(exc).__name__, channel=item.channel
                    )
        if due:
            try:
                with transaction.atomic():
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
        by_shape = collections.defaultdict(list)
        for (model, pk), fields in backlog.items():
            by_shape[(model, tuple(sorted(fields)))].append((pk, fields))
        for (model, names), rows in by_shape.items():
            for i in range(0, len(rows), 200):
                _update_rows(model, names, rows[i:i + 200])

    def _outbound(self, rows, row_updates, item, info, seq, map_json, now, subperiod):
        from .clock import from_epoch_ms

        # the map is JSON text from Redis: stored and sent as it is
        value = messaging.RawJSON(map_json)
        rows.append((from_epoch_ms(now), info.ct_id, info.pk, "group_decisions", None, map_json, seq))
        fields = row_updates.setdefault((info.model, info.pk), {})
        fields["group_decisions"] = value
        if subperiod:
            fields["subperiod_group_decisions"] = value
        if item.quiet:
            return  # superseded within an overloaded batch: stored, not sent
        frame = protocol.frame("group_decisions", map_json, seq=seq, ts=now)
        item.frames = [(info.bus, messaging.bus_message(None, frame))]

    def _run_sync_item(self, item):
        if item.kind == "in":
            _dispatch_inbound(item)
        elif item.kind == "tick":
            tick = item.tick
            with transaction.atomic():
                if tick.kind == "period_end":
                    timers.run_period_end(tick.gk)
                elif tick.kind == "emitter":
                    timers.run_emitter(tick)
                elif tick.kind == "subperiod":
                    timers.run_subperiod(tick)
                elif tick.kind == absent.TIMER_KIND:
                    absent.run_timer(tick)
                else:
                    logger.warning("unknown timer kind %r", tick.kind)
        elif item.kind == "call":
            with transaction.atomic():
                item.reply = item.fn(*item.args)

    # ---------------- scheduler ----------------
    async def _scheduler(self):
        """Claim due timers and feed them to the pipeline; sleep until the next.

        One script call per wake-up claims from both sets (shared timers and
        this process's own) and returns the next due time.
        """
        claim = self.redis.register_script(timers.CLAIM_LUA)
        zsets = [timers.zset_key(), timers.zset_key(self.process_id)]
        poll = float(conf.get("SCHEDULER_POLL"))
        limit = 1000
        prefixes = [timers.hash_prefix(), timers.group_set_prefix(), timers.sentinel_key()]
        while not self.closed and not self.draining:
            try:
                self.timer_wake.clear()
                flat = await claim(keys=zsets, args=[repr(protocol.now_ms()), limit] + prefixes)
                ticks, next_due, lost = timers.parse_claim_state(flat)
                for t in ticks:
                    self.submit_tick(t)
                if lost:
                    await self._recover_timers()
                    continue
                if len(ticks) >= limit:
                    continue
                delay = poll
                if next_due is not None:
                    delay = min(delay, max(0.0, (next_due - protocol.now_ms()) / 1000.0))
                if delay > 0 and not self.timer_wake.is_set() and not self.draining:
                    # a timer handle is cheaper than wait_for's extra task
                    wake = self.loop.call_later(delay, self.timer_wake.set)
                    try:
                        await self.timer_wake.wait()
                    finally:
                        wake.cancel()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("redwood scheduler: error; retrying")
                await asyncio.sleep(0.5)

    async def _recover_timers(self):
        """Redis lost the timers: one scheduler re-arms them from the database."""
        lock = timers.recovery_lock_key()
        if not await self.redis.set(lock, self.process_id, nx=True, ex=60):
            await asyncio.sleep(0.1)  # another process is at it
            return
        try:
            # in the pipeline's order: the batches before it have committed
            await self.call(timers.recover_sync)
            await self.redis.set(timers.sentinel_key(), uuid.uuid4().hex)
        finally:
            await self.redis.delete(lock)

    # ---------------- heartbeat and monitor ----------------
    async def _beat(self):
        ttl = max(1, int(conf.get("PROCESS_TIMEOUT")))
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(lifecycle.process_alive_key(self.process_id), str(time.time()), ex=ttl)
        pipe.get(timers.sentinel_key())
        _, epoch = await pipe.execute()
        if epoch != self.timers_epoch:
            self.timers_epoch = epoch
            await self._register_sockets_again()
            if timers.has_local_timers():
                # emitters on plain functions live in this process only
                await self.loop.run_in_executor(None, timers.rearm_local_sync)

    async def _register_sockets_again(self):
        """After Redis lost its state, tell it again which sockets are here.

        Without it a member connected before the loss would not count as
        connected, and a group still waiting for its last member would wait
        for ever; the groups get their ready check again for the same reason.
        """
        socks = [sock for subs in list(self.local.values()) for sock in subs]
        if not socks:
            return
        pipe = self.redis.pipeline(transaction=False)
        for sock in socks:
            pipe.hset(sock.info.sockets_key, sock.socket_id, "%s|%s" % (sock.participant_code, self.process_id))
        await pipe.execute()
        for info in {sock.info.gk: sock.info for sock in socks}.values():
            try:
                await self.call(lifecycle.ready_phase, info)
            except Exception:
                logger.exception("redwood: ready check of %s after a Redis loss failed", info.gk)

    async def _heartbeat(self):
        interval = max(0.2, min(float(conf.get("PROCESS_TIMEOUT")) / 3.0, float(conf.get("MONITOR_INTERVAL"))))
        last_in = collections.Counter()
        last_t = time.monotonic()
        while not self.closed:
            await asyncio.sleep(interval)
            try:
                await self._beat()
                now_t = time.monotonic()
                await self._report(last_in, now_t - last_t)
                last_in = collections.Counter(self.stats.per_group_in)
                last_t = now_t
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("redwood heartbeat failed")

    async def _report(self, last_in, elapsed):
        by_session = collections.defaultdict(dict)
        for ch, socks in list(self.local.items()):
            if not socks:
                continue
            info = next(iter(socks)).info
            rate = (self.stats.per_group_in[info.gk] - last_in.get(info.gk, 0)) / max(elapsed, 1e-6)
            by_session[info.session_code][info.gk] = {
                "app": info.app_name,
                "group": info.pk,
                "connected": sorted({s.participant_code for s in socks}),
                "rtt_ms": {s.participant_code: s.rtt_ms for s in socks if s.rtt_ms is not None},
                "in_per_s": round(rate, 2),
            }
        if not by_session:
            return
        pipe = self.redis.pipeline(transaction=False)
        for session_code, groups_ in by_session.items():
            try:
                payload = protocol.dumps({"process": self.process_id, "ts": protocol.now_ms(), "groups": groups_})
            except ValueError:
                # a figure that is not JSON must not stop the reports of the others
                logger.exception("redwood monitor report of %s not encodable", session_code)
                continue
            pipe.publish(keys.session_monitor(session_code), payload)
        await pipe.execute()


_EVENT_COLUMNS = ("timestamp", "content_type", "group_pk", "channel", "participant", "value", "seq")
_INSERT_CHUNK = 100  # rows per statement (SQLite allows 999 parameters)


def _insert_events(rows):
    """Store events with multi-row INSERTs, without building model instances.

    ``rows`` are tuples in the order of _EVENT_COLUMNS, with an aware
    datetime first and the value as JSON text (what the JSON field would
    write); this is the hot path of every decision and timer tick.
    """
    from django.db import connection

    if not rows:
        return
    ops = connection.ops
    quote = ops.quote_name
    meta = Event._meta
    cols = ", ".join(quote(meta.get_field(name).column) for name in _EVENT_COLUMNS)
    one = "(" + ", ".join(["%s"] * len(_EVENT_COLUMNS)) + ")"
    adapt = ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        for i in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[i:i + _INSERT_CHUNK]
            params = []
            for row in chunk:
                params.append(adapt(row[0]))
                params.extend(row[1:])
            cursor.execute(
                "INSERT INTO %s (%s) VALUES %s" % (quote(meta.db_table), cols, ", ".join([one] * len(chunk))),
                params,
            )


def _store_decisions(items):
    """Commit the ``decisions`` events of a batch (before Redis applies them)."""
    from .clock import from_epoch_ms

    rows = [(from_epoch_ms(i.t_ms), i.info.ct_id, i.info.pk, "decisions", i.sock.participant_id,
             i.value_json, None) for i in items]
    with transaction.atomic():
        _insert_events(rows)
    for item in items:
        item.pre_stored = True


def _update_rows(model, names, rows):
    """UPDATE t SET f = CASE id WHEN .. THEN .. END, ... WHERE id IN (..)."""
    from django.db import connection

    quote = connection.ops.quote_name
    pk_col = quote(model._meta.pk.column)
    sets, params = [], []
    for name in names:
        field = model._meta.get_field(name)
        whens = []
        for pk, fields in rows:
            whens.append("WHEN %s THEN %s")
            value = fields[name]
            params.extend([pk, str(value) if isinstance(value, messaging.RawJSON) else field.get_prep_value(value)])
        sets.append("%s = CASE %s %s END" % (quote(field.column), pk_col, " ".join(whens)))
    ids = [pk for pk, _ in rows]
    sql = "UPDATE %s SET %s WHERE %s IN (%s)" % (
        quote(model._meta.db_table), ", ".join(sets), pk_col, ", ".join(["%s"] * len(ids))
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + ids)


def _is_snapshot(item):
    """A fired timer whose whole work is one Redis snapshot (no app code runs).

    A sub-period end of an app that overrides ``_subperiod_tick`` (as 0.9.x
    apps may, to act at each sub-period end) runs that method instead.
    """
    if item.kind != "tick" or item.tick.kind not in ("subperiod", "ratelimit"):
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
    if item.kind == "in":
        item.reply = protocol.error_frame("server error: message not stored", channel=item.channel)
    elif item.kind == "call" and not item.future.done():
        item.future.set_exception(RuntimeError("pipeline batch failed"))
    elif item.kind == "tick":
        logger.error("redwood pipeline: timer %r failed", item.tick)


def _cached_info(gk):
    from . import groups

    app, pk = gk.rsplit(":", 1)
    return groups.cached(app, pk)


def _load_infos(gks):
    """Build (and cache) the GroupInfo of each group key (and its siblings)."""
    from . import groups

    groups.build_infos(gks)
    for gk in gks:
        if _cached_info(gk) is None:
            logger.warning("timer for %s: the group no longer exists", gk)


def _dispatch_inbound(item):
    """Store a client's message, then hand it to ``_on_<channel>_event``."""
    from otree.models import Participant

    from .clock import from_epoch_ms

    info = item.info
    event = Event(
        timestamp=from_epoch_ms(item.t_ms), content_type_id=info.ct_id, group_pk=info.pk,
        channel=item.channel, participant_id=item.sock.participant_id, value=item.payload,
    )
    event.save()
    if item.channel not in info.handlers:
        return
    participant = Participant.objects.get(pk=item.sock.participant_id)
    Event.participant.field.set_cached_value(event, participant)
    with transaction.atomic():
        # the row lock makes handlers of one group take turns across server
        # processes (PostgreSQL); SQLite's BEGIN IMMEDIATE does it (dbtuning)
        group = info.model.objects.select_for_update().get(pk=info.pk)
        lifecycle.refresh_live_state(group)
        getattr(group, "_on_%s_event" % item.channel)(event)


def _clear_dead_connections():
    """Remove Connection rows left by server processes that died."""
    from .models import Connection

    r = redis_conn.get_sync()
    procs = set(Connection.objects.values_list("process", flat=True).distinct())
    if not procs:
        return 0
    procs = sorted(procs)
    alive = r.mget([lifecycle.process_alive_key(p) for p in procs])
    dead = [p for p, a in zip(procs, alive) if not a]
    if not dead:
        return 0
    n, _ = Connection.objects.filter(process__in=dead).delete()
    return n
