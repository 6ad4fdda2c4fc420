"""Benchmark probe, loaded into server processes through PYTHONPATH.

Only active when ``REDWOOD_BENCH_PROBE_DIR`` is set (benchmarks/loadgen.py
and timer_lateness.py set it for the servers they start).  By default it only
counts, without changing what the server does:

* SQL statements executed through Django's cursor wrapper (every path, also
  oTree's own patched ``execute``, goes through ``_execute_with_wrappers``;
  a bulk INSERT of 100 rows is one statement), split by their first keyword
  (INSERT, UPDATE, SELECT, BEGIN, SAVEPOINT, ...);
* rows passed to ``executemany``;
* database commits (``BaseDatabaseWrapper._commit``: explicit transactions;
  a statement run in autocommit mode is not counted here);
* the pipeline figures of otree_redwood.engine.runtime (batches, items, inbound,
  published) once the runtime is loaded.

With ``REDWOOD_BENCH_PROBE_TIMING=1`` it also times (diagnostics, a little
overhead): each pipeline batch (``Runtime._process``) and its database phase,
the wait of inbound messages in the pipeline queue, the outbound legs of each
``group_decisions`` frame (batch start -> handed to the socket -> written to
the transport), the lag of the server's event loop (5 ms sleeps), and the
garbage collector's pauses per generation.

With ``REDWOOD_BENCH_NODELAY=1`` it applies the TCP_NODELAY fix that was
proposed for the core (see _nodelay_fix; the core has its own since commit
f4d7b5f, which makes this a no-op).  With ``REDWOOD_BENCH_GC_FREEZE=1`` it
calls ``gc.freeze()`` once the runtime has started (experiment for a
proposed core change: full collections then skip the start-up heap).

Every 0.2 s a thread writes the figures to ``<dir>/probe-<pid>.json``
(temporary file, then rename, so a reader never sees half a file).
"""
import json
import os
import sys
import threading
import time

_DIR = os.environ.get("REDWOOD_BENCH_PROBE_DIR")
_TIMING = bool(os.environ.get("REDWOOD_BENCH_PROBE_TIMING"))

counts = {"statements": 0, "executemany_rows": 0, "commits": 0, "by_verb": {}}
timing = {name: [] for name in ("process", "db", "queue_wait", "to_deliver", "to_sent", "loop_lag",
                                "gc0", "gc1", "gc2")}
_state = {"patched": False, "lag": False, "gc_t": 0.0, "frozen": None}


def _verb(sql):
    try:
        return sql.lstrip().split(None, 1)[0].upper()
    except (AttributeError, IndexError):
        return "?"


def _install_sql_counter():
    from django.db.backends import utils
    from django.db.backends.base import base

    by_verb = counts["by_verb"]
    orig_wrappers = utils.CursorWrapper._execute_with_wrappers
    orig_commit = base.BaseDatabaseWrapper._commit

    # oTree replaces CursorWrapper.execute when its app is ready; every path
    # goes through _execute_with_wrappers, so statements are counted there.
    def _execute_with_wrappers(self, sql, params, many, executor):
        counts["statements"] += 1
        v = _verb(sql)
        by_verb[v] = by_verb.get(v, 0) + 1
        if many:
            try:
                counts["executemany_rows"] += len(params)
            except TypeError:
                pass
        return orig_wrappers(self, sql, params, many, executor)

    def _commit(self):
        counts["commits"] += 1
        return orig_commit(self)

    utils.CursorWrapper._execute_with_wrappers = _execute_with_wrappers
    base.BaseDatabaseWrapper._commit = _commit


def _gc_cb(phase, info):
    if phase == "start":
        _state["gc_t"] = time.perf_counter()
    else:
        timing["gc%d" % info.get("generation", 0)].append((time.perf_counter() - _state["gc_t"]) * 1000.0)


def _frame_ts(frame):
    if not frame or not frame.startswith('{"channel":"group_decisions"'):
        return None
    i = frame.rfind(',"ts":')
    if i < 0:
        return None
    try:
        return float(frame[i + 6:-1])
    except ValueError:
        return None


def _patch_timing(rt_mod):
    cls = rt_mod.Runtime
    orig_process, orig_db = cls._process, cls._db_phase

    async def _process(self, batch):
        t = time.perf_counter()
        now = time.time() * 1000.0
        for item in batch:
            if type(item).__name__ == "Inbound" and item.t_ms:
                timing["queue_wait"].append(now - item.t_ms)
        try:
            return await orig_process(self, batch)
        finally:
            timing["process"].append((time.perf_counter() - t) * 1000.0)

    def _db_phase(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return orig_db(self, *args, **kwargs)
        finally:
            timing["db"].append((time.perf_counter() - t) * 1000.0)

    cls._process, cls._db_phase = _process, _db_phase

    sock_mod = sys.modules.get("otree_redwood.engine.socket")
    if sock_mod is not None:
        # the participant socket of both hosts: deliver() takes a frame from
        # the bus, its transport's send() writes it
        S = sock_mod.ParticipantSocket
        orig_deliver, orig_init = S.deliver, S.__init__

        def deliver(self, frame):
            ts = _frame_ts(frame)
            if ts is not None:
                timing["to_deliver"].append(time.time() * 1000.0 - ts)
            return orig_deliver(self, frame)

        def __init__(self, send, *args, **kwargs):
            async def timed_send(text):
                r = await send(text)
                ts = _frame_ts(text)
                if ts is not None:
                    timing["to_sent"].append(time.time() * 1000.0 - ts)
                return r

            orig_init(self, timed_send, *args, **kwargs)

        S.deliver, S.__init__ = deliver, __init__
    import gc

    gc.callbacks.append(_gc_cb)
    _state["patched"] = True


async def _lag_monitor():
    import asyncio

    while True:
        t = time.perf_counter()
        await asyncio.sleep(0.005)
        timing["loop_lag"].append((time.perf_counter() - t) * 1000.0 - 5.0)


def _start_lag_monitor(rt_mod):
    for rt in list(getattr(rt_mod, "_runtimes", {}).values()):
        loop = rt.loop
        loop.call_soon_threadsafe(lambda: loop.create_task(_lag_monitor()))
        _state["lag"] = True
        return


def _timing_summary():
    out = {}
    for name, values in timing.items():
        v = sorted(values[-50000:])
        if v:
            out[name] = {"n": len(values), "p50": round(v[len(v) // 2], 2), "p99": round(v[int(len(v) * 0.99)], 2),
                         "max": round(v[-1], 2), "sum": round(sum(values), 1)}
    return out


def _runtime_stats():
    rt_mod = sys.modules.get("otree_redwood.engine.runtime")
    out = {"batches": 0, "batch_items": 0, "inbound": 0, "published": 0}
    if rt_mod is None:
        return out
    for rt in list(getattr(rt_mod, "_runtimes", {}).values()):
        st = getattr(rt, "stats", None)
        if st is None:
            continue
        for k in out:
            out[k] += int(getattr(st, k, 0) or 0)
    return out


def _writer():
    path = os.path.join(_DIR, "probe-%d.json" % os.getpid())
    tmp = path + ".tmp"
    argv = " ".join(sys.argv[:3])
    while True:
        time.sleep(0.2)
        try:
            data = {
                "pid": os.getpid(), "argv": argv, "t": time.time(),
                "statements": counts["statements"], "executemany_rows": counts["executemany_rows"],
                "commits": counts["commits"], "by_verb": dict(counts["by_verb"]),
            }
            data.update(_runtime_stats())
            if os.environ.get("REDWOOD_BENCH_GC_FREEZE") and _state["frozen"] is None:
                rt_mod = sys.modules.get("otree_redwood.engine.runtime")
                if rt_mod is not None and any(getattr(rt, "started", False)
                                              for rt in list(getattr(rt_mod, "_runtimes", {}).values())):
                    import gc

                    gc.collect()
                    gc.freeze()
                    _state["frozen"] = gc.get_freeze_count()
            data["gc_frozen"] = _state["frozen"]
            if _TIMING:
                rt_mod = sys.modules.get("otree_redwood.engine.runtime")
                if rt_mod is not None and not _state["patched"] and "otree_redwood.consumers" in sys.modules:
                    _patch_timing(rt_mod)
                if rt_mod is not None and not _state["lag"]:
                    _start_lag_monitor(rt_mod)
                data["timing"] = _timing_summary()
            with open(tmp, "w") as f:
                json.dump(data, f)
            os.replace(tmp, path)
        except Exception as exc:
            sys.stderr.write("redwood bench probe: %r\n" % (exc,))


def _nodelay_fix():
    """The TCP_NODELAY fix, now in the core (otree_redwood.lifespan); kept so
    that ``REDWOOD_BENCH_NODELAY=1`` runs of older commits stay comparable."""
    from otree_redwood.lifespan import enable_tcp_nodelay

    enable_tcp_nodelay()


if _DIR:
    try:
        if os.environ.get("REDWOOD_BENCH_NODELAY"):
            _nodelay_fix()
        if os.environ.get("REDWOOD_BENCH_GC_THRESHOLD"):
            # experiment: e.g. "10000,20,20" (Python's default is 700,10,10)
            import gc

            gc.set_threshold(*[int(x) for x in os.environ["REDWOOD_BENCH_GC_THRESHOLD"].split(",")])
        _install_sql_counter()
        threading.Thread(target=_writer, name="redwood-bench-probe", daemon=True).start()
    except Exception as exc:  # never break the server over a probe
        sys.stderr.write("redwood bench probe not installed: %r\n" % (exc,))
