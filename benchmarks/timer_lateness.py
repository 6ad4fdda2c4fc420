"""Timer lateness: 100 groups ticking at 10 Hz through the Redis scheduler.

Starts a throwaway redis-server, a fresh SQLite database, a ``benchmark``
session (2 players per group, app ``decision_demo``) and 1 or 2 ``otree
prodserver`` processes sharing Redis (each runs the scheduler:
``REDWOOD_SCHEDULER_IN_SERVER`` is on by default).  From this process it
schedules, per group, a periodic ``subperiod`` timer with
``otree_redwood.engine.timers.schedule_sync("sp:" + gk, "subperiod", gk, first_ms,
interval_ms, n)``; each tick takes a snapshot of the group's decisions,
stores it as a ``group_decisions`` Event (and in the group row) and
publishes it on the group's bus channel.

Measured:

* fire lateness: what the servers push to the Redis list ``rw:lateness``
  (``kind|timer_id|due_ms|lateness_ms``): the time from a tick's due time to the
  start of the pipeline batch that runs it (this process drains the list
  every 2 s, so no entry is lost to the list's trim);
* publish lateness: due time -> the tick's frame received by a pub/sub
  subscriber in this process (``PSUBSCRIBE rw:bus:*``): claim, Redis
  snapshot, database transaction and publish included - what a client on a
  fast link would see;
* missed / doubled ticks: ``group_decisions`` Events per group in the
  database (expected exactly n each); each event's tick index k is derived
  from its timestamp (``round((ts - first) / interval)``, unambiguous while
  lateness < interval / 2), so a missing k is a missed tick and a repeated k
  a doubled one; the same check on the frames seen on the bus, and the count
  of lateness entries per timer id;
* server CPU (% of one core, process trees) and Redis CPU.

    .venv/bin/python benchmarks/timer_lateness.py                      # 60 s, 1 then 2 servers
    .venv/bin/python benchmarks/timer_lateness.py --servers 2 --minutes 10
    .venv/bin/python benchmarks/timer_lateness.py --seconds 20 --stagger --json out.json
    .venv/bin/python benchmarks/timer_lateness.py --postgres --servers 2 --stagger   # on PostgreSQL

Ticks of all groups are due at the same instants by default (the harder
case: 100 ticks every 100 ms in one burst); ``--stagger`` spreads the
groups' first ticks over one interval.
"""
import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.loadgen import (  # noqa: E402
    PROBE_DIR, machine_busy_seconds, pct, probe_delta, proc_cpu_seconds, read_probes, tree_cpu, wait_servers_settled,
)

APP = "decision_demo"


class BusListener(threading.Thread):
    """PSUBSCRIBE to every group's bus; note each group_decisions frame."""

    def __init__(self, redis_url, pattern):
        super().__init__(daemon=True)
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe(pattern)
        self.frames = []  # (channel, recv_ms, seq, ts)
        self.stop = False
        self.errors = 0

    def run(self):
        while not self.stop:
            msg = self.pubsub.get_message(timeout=0.5)
            if msg is None or msg["type"] != "pmessage":
                continue
            now = time.time() * 1000.0
            data = msg["data"].decode("utf-8")
            frame = data.partition("\x1f")[2]
            if not frame.startswith('{"channel":"group_decisions"'):
                continue
            try:
                f = json.loads(frame)
                self.frames.append((msg["channel"].decode(), now, f.get("seq"), f.get("ts")))
            except ValueError:
                self.errors += 1


def drain_lateness(r, key):
    pipe = r.pipeline(transaction=True)
    pipe.lrange(key, 0, -1)
    pipe.delete(key)
    entries, _ = pipe.execute()
    out = []
    for e in reversed(entries):  # LPUSH: newest first
        kind, _, rest = e.decode().partition("|")
        tid, due, late = rest.rsplit("|", 2)
        out.append((kind, tid, float(late), float(due)))
    return out


def stall_episodes(lateness, threshold=5.0, gap=100.0):
    """Group ticks later than ``threshold`` ms into episodes by due time.

    Ticks due less than ``gap`` ms apart belong to one episode.  Tells apart
    a p99 made of a few long stalls (garbage collection, a checkpoint) from
    one made of many small delays (a busy CPU).
    """
    late = sorted((due, ms) for _, _, ms, due in lateness if ms > threshold)
    episodes = []
    for due, ms in late:
        if episodes and due - episodes[-1]["end"] < gap:
            e = episodes[-1]
            e["end"] = due
            e["ticks"] += 1
            e["max"] = max(e["max"], ms)
        else:
            episodes.append({"start": due, "end": due, "ticks": 1, "max": ms})
    return episodes


def tick_check(ticks_by_group, first_by_group, interval, n):
    """(missed, doubled, groups with a wrong count) from {gk: [ts_ms]}.

    A tick never fires before it is due (the scheduler claims only due
    timers, and ``ts`` is taken after the claim), so the events of a group,
    in time order, are matched greedily to k = 0, 1, ...: an event earlier
    than the due time of the next unmatched k repeats a tick (doubled);
    the ks left unmatched at the end are missed ticks.
    """
    missed = doubled = wrong = 0
    for gk, first in first_by_group.items():
        ts_list = sorted(ticks_by_group.get(gk, []))
        next_k = 0
        for ts in ts_list:
            if next_k < n and first + next_k * interval <= ts + 0.5:
                next_k += 1
            else:
                doubled += 1
        missed += n - next_k
        if len(ts_list) != n:
            wrong += 1
    return missed, doubled, wrong


def run(args, n_servers):
    from tests import harness

    tmp = tempfile.mkdtemp(prefix="redwood-timers-")
    db_path = os.path.join(tmp, "db.sqlite3")
    probe_dir = os.path.join(tmp, "probe")
    os.makedirs(probe_dir)
    redis_server = harness.RedisServer()
    url = redis_server.url(0)
    os.environ["REDWOOD_REDIS_URL"] = url
    servers = []
    listener = None
    try:
        if args.database_url:
            from tests import pgnginx

            pgnginx.configure_django_url(args.database_url)
        else:
            harness.configure_django(db_path)
        from django.core.management import call_command
        from django.db import connections

        from otree_redwood.engine import keys, redis_conn, timers

        # a new Redis each run: forget clients of the previous one
        redis_conn.reset()
        connections.close_all()
        if not args.database_url:
            # a new SQLite file each run
            from django.conf import settings

            settings.DATABASES["default"]["NAME"] = db_path
            for c in connections.all():
                c.settings_dict["NAME"] = db_path
            call_command("migrate", run_syncdb=True, verbosity=0)
        harness.collectstatic()
        session = harness.create_session("benchmark", args.groups * 2, group_size=2)
        members = harness.group_members(session, APP)
        connections.close_all()
        extra = {
            "REDWOOD_PROCESSES": str(n_servers),
            "PYTHONPATH": PROBE_DIR + os.pathsep + ROOT,
            "REDWOOD_BENCH_PROBE_DIR": probe_dir,
            "OTREE_PRODUCTION": "1",
        }
        if args.database_url:
            extra["DATABASE_URL"] = args.database_url
        if args.probe_timing:
            extra["REDWOOD_BENCH_PROBE_TIMING"] = "1"
        if args.gc_freeze:
            extra["REDWOOD_BENCH_GC_FREEZE"] = "1"
        for i in range(n_servers):
            servers.append(harness.ServerProcess(db_path, url, extra_env=extra,
                                                 log_path=os.path.join(tmp, "server-%d.log" % i)).start())
        wait_servers_settled(servers)
        import redis

        r = redis.Redis.from_url(url)
        lateness_key = keys.key("lateness")
        r.delete(lateness_key)
        listener = BusListener(url, keys.key("bus") + ":*")
        listener.start()
        interval = 1000.0 / args.hz
        n = int(round(args.seconds * args.hz))
        t0 = time.time() * 1000.0 + 3000.0
        first_by_group = {}
        bus_to_gk = {}
        for i, (gpk, codes) in enumerate(members):
            gk = "%s:%s" % (APP, gpk)
            first = t0 + (interval * i / len(members) if args.stagger else 0.0)
            first_by_group[gk] = first
            bus_to_gk[keys.key("bus", session.code, APP, gpk)] = gk
            timers.schedule_sync("sp:" + gk, "subperiod", gk, first, interval, n)
        last_due = max(first_by_group.values()) + (n - 1) * interval
        pgids = [s.proc.pid for s in servers]
        # measure CPU over the ticking time
        time.sleep(max(0.0, t0 / 1000.0 - time.time()))
        cpu0 = {g: tree_cpu(g) for g in pgids}
        redis0 = proc_cpu_seconds(redis_server.proc.pid)
        self0 = proc_cpu_seconds(os.getpid())
        busy0 = machine_busy_seconds()
        t_cpu0 = time.time()
        probe0 = read_probes(probe_dir)
        lateness = []
        while time.time() * 1000.0 < last_due + 1500.0:
            time.sleep(2.0)
            lateness.extend(drain_lateness(r, lateness_key))
            if args.progress:
                print("  %.0f s: %d ticks fired" % ((time.time() * 1000.0 - t0) / 1000.0, len(lateness)), flush=True)
        cpu1 = {g: tree_cpu(g) for g in pgids}
        redis1 = proc_cpu_seconds(redis_server.proc.pid)
        self1 = proc_cpu_seconds(os.getpid())
        busy1 = machine_busy_seconds()
        t_cpu1 = time.time()
        time.sleep(0.45)
        probe1 = read_probes(probe_dir)
        time.sleep(0.5)
        lateness.extend(drain_lateness(r, lateness_key))
        listener.stop = True
        listener.join(2)
        # the database
        from otree_redwood.models import Event

        connections.close_all()
        pks = {int(gk.rsplit(":", 1)[1]): gk for gk in first_by_group}
        from django.apps import apps

        Group = apps.get_app_config(APP).get_model("Group")
        from otree_redwood.models import epoch_ms
        from django.contrib.contenttypes.models import ContentType

        ct = ContentType.objects.get_for_model(Group)
        db_ticks = collections.defaultdict(list)
        for gpk, ts in Event.objects.filter(content_type=ct, group_pk__in=list(pks), channel="group_decisions") \
                .order_by().values_list("group_pk", "timestamp"):
            db_ticks[pks[gpk]].append(epoch_ms(ts))
        connections.close_all()
        missed, doubled, wrong = tick_check(db_ticks, first_by_group, interval, n)
        bus_ticks = collections.defaultdict(list)
        bus_late = []
        for ch, recv, seq, ts in listener.frames:
            gk = bus_to_gk.get(ch)
            if gk is None or ts is None:
                continue
            bus_ticks[gk].append(ts)
            k = round((ts - first_by_group[gk]) / interval)
            bus_late.append(recv - (first_by_group[gk] + k * interval))
        bus_missed, bus_doubled, _ = tick_check(bus_ticks, first_by_group, interval, n)
        per_timer = collections.Counter(tid for kind, tid, _, _ in lateness if kind == "subperiod")
        fire = sorted(late for kind, _, late, _ in lateness if kind == "subperiod")
        episodes = stall_episodes([e for e in lateness if e[0] == "subperiod"])
        big = sorted(episodes, key=lambda e: -e["ticks"])[:3]
        bus_late.sort()
        server_cpu = sum(c1 - cpu0[g].get(pid, 0.0) for g in pgids for pid, c1 in cpu1[g].items())
        window = (time.time() - t0 / 1000.0)
        pr = probe_delta(probe0, probe1, set(pgids))
        expected = n * len(first_by_group)
        out = {
            "servers": n_servers, "groups": len(first_by_group), "hz": args.hz, "ticks_per_group": n,
            "seconds": args.seconds, "stagger": bool(args.stagger), "expected_ticks": expected,
            "fired": len(fire),
            "fire_p50": pct(fire, 50), "fire_p99": pct(fire, 99), "fire_max": fire[-1] if fire else None,
            "bus_p50": pct(bus_late, 50), "bus_p99": pct(bus_late, 99), "bus_max": bus_late[-1] if bus_late else None,
            "db_ticks": sum(len(v) for v in db_ticks.values()),
            "missed": missed, "doubled": doubled, "groups_wrong_count": wrong,
            "bus_frames": sum(len(v) for v in bus_ticks.values()),
            "bus_missed": bus_missed, "bus_doubled": bus_doubled,
            "timers_over_n": sum(1 for v in per_timer.values() if v > n),
            "timers_under_n": sum(1 for v in per_timer.values() if v < n) + (len(first_by_group) - len(per_timer)),
            "server_cpu_pct": 100.0 * server_cpu / (t_cpu1 - t_cpu0),
            "redis_cpu_pct": 100.0 * (redis1 - redis0) / (t_cpu1 - t_cpu0),
            "other_cpu_pct": max(0.0, 100.0 * ((busy1 - busy0) - server_cpu - (redis1 - redis0) - (self1 - self0))
                                 / (t_cpu1 - t_cpu0)),
            "sql_per_tick": pr["statements"] / max(1, len(fire)),
            "commits_per_tick": pr["commits"] / max(1, len(fire)),
            "mean_batch_items": pr["batch_items"] / max(1, pr["batches"]),
            "window_s": window,
            "late_over_5ms": sum(e["ticks"] for e in episodes),
            "stall_episodes": len(episodes),
            "worst_episodes": [{"at_s": round((e["start"] - t0) / 1000.0, 2), "length_ms": round(e["end"] - e["start"], 1),
                                "ticks": e["ticks"], "max_ms": round(e["max"], 1)} for e in big],
            "timers_left": r.zcard(timers.zset_key()),
        }
        if args.probe_timing:
            out["server_timing"] = {str(pid): d.get("timing") for pid, d in probe1.items() if pid in set(pgids)}
        logs = "".join(s.read_log() for s in servers)
        out["server_log_warnings"] = sum(1 for line in logs.splitlines() if "WARNING" in line or "ERROR" in line)
        return out
    finally:
        if listener is not None:
            listener.stop = True
        for s in servers:
            s.kill()
        redis_server.stop()
        if args.keep:
            print("kept", tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def fmt(v, nd=1):
    return "-" if v is None else ("%." + str(nd) + "f") % v


def report(o):
    extra = []
    for pid, t in (o.get("server_timing") or {}).items():
        extra.append("server %s timing (ms): %s" % (pid, "; ".join(
            "%s n=%d p50=%s p99=%s max=%s" % (k, v["n"], v["p50"], v["p99"], v["max"]) for k, v in (t or {}).items())))
    return "\n".join([
        "== timers: %d groups at %g Hz for %g s (%d ticks each, %s), %d server(s), %s"
        % (o["groups"], o["hz"], o["seconds"], o["ticks_per_group"], "staggered" if o["stagger"] else "aligned",
           o["servers"], o.get("database", "sqlite")),
        "fire lateness ms (due -> batch start, rw:lateness): p50 %s p99 %s max %s over %d ticks (expected %d)"
        % (fmt(o["fire_p50"], 2), fmt(o["fire_p99"], 2), fmt(o["fire_max"], 2), o["fired"], o["expected_ticks"]),
        "publish lateness ms (due -> frame at a bus subscriber): p50 %s p99 %s max %s"
        % (fmt(o["bus_p50"], 2), fmt(o["bus_p99"], 2), fmt(o["bus_max"], 2)),
        "ticks later than 5 ms: %d in %d episodes; largest: %s"
        % (o["late_over_5ms"], o["stall_episodes"], ", ".join(
            "%d ticks over %g ms at %g s (max %g ms)" % (e["ticks"], e["length_ms"], e["at_s"], e["max_ms"])
            for e in o["worst_episodes"]) or "-"),
        "database: %d group_decisions events; missed %d, doubled %d, groups with a wrong count %d; "
        "bus: %d frames, missed %d, doubled %d; timers fired more than n: %d, fewer: %d; timers left %d"
        % (o["db_ticks"], o["missed"], o["doubled"], o["groups_wrong_count"], o["bus_frames"], o["bus_missed"],
           o["bus_doubled"], o["timers_over_n"], o["timers_under_n"], o["timers_left"]),
        "other programs on the machine %.0f%% of a core; "
        "server CPU %.0f%% of a core, redis %.0f%%; SQL/tick %.2f, commits/tick %.3f, mean batch %.1f items; "
        "server log warnings %d"
        % (o["other_cpu_pct"], o["server_cpu_pct"], o["redis_cpu_pct"], o["sql_per_tick"], o["commits_per_tick"], o["mean_batch_items"],
           o["server_log_warnings"]),
    ] + extra)


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--groups", type=int, default=100)
    p.add_argument("--hz", type=float, default=10.0)
    p.add_argument("--seconds", type=float, default=60.0, help="ticking time (default 60)")
    p.add_argument("--minutes", type=float, default=None, help="ticking time in minutes (overrides --seconds)")
    p.add_argument("--servers", default="1,2", help="comma-separated server counts to run (default 1,2)")
    p.add_argument("--stagger", action="store_true", help="spread the groups' first ticks over one interval")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--probe-timing", action="store_true",
                   help="time the pipeline phases, event-loop lag and GC inside the servers (diagnostics)")
    p.add_argument("--gc-freeze", action="store_true",
                   help="servers call gc.freeze() once started (experiment; see benchmarks/_probe)")
    p.add_argument("--postgres", action="store_true",
                   help="use a throwaway PostgreSQL cluster instead of a SQLite file (see tests/pgnginx.py)")
    p.add_argument("--json", default=None)
    p.add_argument("--keep", action="store_true")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.minutes:
        args.seconds = args.minutes * 60.0
    outs = []
    pg = None
    args.database_url = None
    try:
        if args.postgres:
            from tests import pgnginx

            # one throwaway cluster for every run (each run makes its own
            # session), PostgreSQL's defaults, tables made by `otree resetdb`
            pg = pgnginx.PostgresServer()
            args.database_url = pg.url()
            pgnginx.resetdb(args.database_url)
        for n in [int(x) for x in str(args.servers).split(",") if x]:
            o = run(args, n)
            o["database"] = "postgresql" if pg else "sqlite"
            print(report(o), flush=True)
            outs.append(o)
    finally:
        if pg is not None:
            pg.stop()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(outs, f, indent=1)
    return outs


if __name__ == "__main__":
    main()
