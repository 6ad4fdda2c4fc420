"""The per-process real-time engine: one ``Runtime`` per event loop (per server process).

A Runtime is made of four parts, each in its module:

* the **bus** (bus.py): Redis pub/sub, frames to the local sockets;
* the **pipeline** (pipeline.py): inbound messages and fired timers in
  batches: Redis, then one database transaction, then publish;
* the **scheduler** (scheduler.py): claims due timers and feeds the pipeline;
* the **heartbeat** (heartbeat.py): liveness and the live monitor's figures.

Their database work runs where the host says (``host.db_sync``: for oTree 3,
threads of their own, otree_redwood/dbthreads.py).  This module starts and
stops them, and keeps the names other modules and tests use.
"""
import asyncio
import collections
import logging


from . import conf, keys, lifecycle, redis_conn, timers
from .bus import Bus
from .gctune import GC_THRESHOLDS, tune_gc  # noqa: F401
from .heartbeat import Heartbeat
from .pipeline import (  # noqa: F401  (the names the rest of the package uses)
    OVERLOAD_BATCH, ROW_FLUSH_SECONDS, Call, Inbound, Item, Pipeline, Stats, TimerTick, db_sync,
)
from .scheduler import Scheduler

logger = logging.getLogger(__name__)

_runtimes = {}


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


def running(loop=None):
    """The Runtime of ``loop`` (default: the current one), started or starting, or None.

    For a host's shutdown, which stops it if there is one without making one.
    """
    rt = _runtimes.get(loop if loop is not None else asyncio.get_event_loop())
    return None if rt is None or rt.closed else rt


def wake_local_schedulers():
    for rt in list(_runtimes.values()):
        if rt.started and not rt.closed and not rt.loop.is_closed():
            try:
                rt.loop.call_soon_threadsafe(rt.timer_wake.set)
            except RuntimeError:
                pass


# a timer added in this process wakes its schedulers at once
timers.local_wakers.append(wake_local_schedulers)


class Runtime(Bus, Pipeline, Scheduler, Heartbeat):
    """Everything real-time that one server process runs (see the module doc)."""

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
        self.tasks = {}  # name -> task: reader, worker, heartbeat, scheduler
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

    async def start(self, scheduler=None):
        if self.started:
            return
        async with self._start_lock:
            if self.started:
                return
            self.redis = redis_conn.get_async()
            # every key carries the database's namespace: look it up here,
            # off the event loop, before the first key is made
            await db_sync(keys.namespace)()
            self.wake_channel = keys.scheduler_wake()
            self.lateness_key = keys.timer_lateness()
            self.pubsub = self.redis.pubsub()
            await self.pubsub.subscribe(self.wake_channel)
            await self._beat()
            await db_sync(lifecycle.clear_dead_connections)()
            self.tasks = {
                "reader": self.loop.create_task(self._reader()),
                "worker": self.loop.create_task(self._worker()),
                "heartbeat": self.loop.create_task(self._heartbeat()),
            }
            if scheduler is None:
                scheduler = conf.get("SCHEDULER_IN_SERVER")
            if scheduler:
                self.tasks["scheduler"] = self.loop.create_task(self._scheduler())
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
        for t in self.tasks.values():
            t.cancel()
        if self.tasks:
            # every loop also checks self.closed: a cancellation swallowed by
            # asyncio.wait_for (a known race in Python 3.8) cannot hang stop()
            done, pending = await asyncio.wait(list(self.tasks.values()), timeout=5)
            for t in pending:
                logger.warning("redwood runtime task %r did not stop", t)
        self.tasks = {}
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
        task = self.tasks.get("scheduler")
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=max(0.0, deadline - self.loop.time()))
        worker = self.tasks.get("worker")
        while (self.queue or self.busy) and worker is not None and not worker.done():
            if self.loop.time() >= deadline:
                logger.warning("redwood runtime stopped with %d items not processed", len(self.queue))
                break
            await asyncio.sleep(0.01)

