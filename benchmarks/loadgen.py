"""Load generator: real WebSocket clients against real ``otree prodserver`` processes.

Starts a throwaway redis-server, a fresh SQLite database (or a throwaway
PostgreSQL with ``--postgres``, or an existing database with
``--database-url``), one session of the example project's ``benchmark``
config (app ``decision_demo``, no period end), one or more server processes
(each on its own port, sharing Redis and the database; with ``--nginx``
behind an nginx that spreads the sockets round robin), then N groups of G
clients in 1 or 2 client processes (asyncio + websockets).  Every client
sends ``decisions`` at ``--rate`` per second (Poisson or paced), each value
unique (``sender index * 1e6 + counter``), and reads every ``group_decisions``
map it is sent.  Players are assigned to servers round-robin, so the members
of one group are spread over the server processes (behind nginx: nginx
assigns them, and a member of a group that landed on one process reconnects
until the group spans two; ``--no-spread`` keeps nginx's placement).

Reported (see benchmarks/README.md for the exact definitions):

* delivered %: for each value v sent by X inside the measured window and each
  other member Y, Y saw a map where X's value was v (exact) or a later value
  of X (superseded: the server coalesced maps for a slow socket);
* final-state mismatches: 1 s after the load stops, members whose latest map
  (highest seq) differs from the decisions really sent last; convergence time;
* latency (send -> first map at Y showing v or newer) p50/p95/p99/max, also
  for exact receipts only;
* achieved decisions/s, server CPU per decision (utime+stime of each server's
  process tree from /proc), Redis CPU, client CPU;
* database work per decision: SQL statements (by verb), commits and pipeline
  batches, counted inside the servers by benchmarks/_probe/sitecustomize.py
  (on PostgreSQL the statements exclude BEGIN, which psycopg2 sends itself;
  PostgreSQL's own counters and CPU are reported beside them);
  Event rows per decision; and the check that every decision sent was stored
  as a ``decisions`` Event (read from the database the servers used);
* the server process of each socket and how many groups span 2+ processes.

Examples::

    .venv/bin/python benchmarks/loadgen.py --groups 20 --group-size 2 --rate 10
    .venv/bin/python benchmarks/loadgen.py --groups 5 --group-size 8 --rate 5 --servers 2
    .venv/bin/python benchmarks/loadgen.py --groups 20 --rate 30 --client-procs 2 --json out.json
    .venv/bin/python benchmarks/loadgen.py --groups 20 --rate 20 --profile 10   # py-spy top functions
    .venv/bin/python benchmarks/loadgen.py --groups 20 --rate 15 --postgres --nginx --servers 4

The machine's clock is shared by clients and servers, so latencies are
one-way times measured with one clock.
"""
import argparse
import asyncio
import collections
import glob
import json
import math
import multiprocessing
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
PROBE_DIR = os.path.join(ROOT, "benchmarks", "_probe")
CLK = os.sysconf("SC_CLK_TCK")
VALUE_BASE = 1000000
APP = "decision_demo"


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------

def pct(values, p):
    """Percentile p (0-100) of a sorted list, nearest-rank; None if empty."""
    if not values:
        return None
    k = max(0, min(len(values) - 1, int(math.ceil(p / 100.0 * len(values))) - 1))
    return values[k]


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def proc_cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return 0.0
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15
    return (int(fields[11]) + int(fields[12])) / float(CLK)


def machine_busy_seconds():
    """CPU seconds spent busy by the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = [int(x) for x in parts[:8]]
    idle = vals[3] + vals[4]  # idle + iowait
    return (sum(vals) - idle) / float(CLK)


def group_pids(pgid):
    """Pids of the process group ``pgid`` (a server and its children)."""
    from tests import harness

    return [pid for pid, fields in harness.proc_stats() if int(fields[2]) == pgid]


def tree_cpu(pgid):
    """{pid: cpu seconds} of every process of a server's process group."""
    return {pid: proc_cpu_seconds(pid) for pid in group_pids(pgid)}


def family_cpu_seconds(root):
    """CPU seconds of ``root`` and its children, those already reaped included.

    For PostgreSQL's postmaster (backends come and go; a reaped backend's
    time moves to the postmaster's cutime/cstime) and nginx's master.
    """
    from tests import harness

    total = 0.0
    for pid, fields in harness.proc_stats():
        if pid == root or int(fields[1]) == root:
            # utime, stime, cutime, cstime (fields 14-17 of the stat line)
            total += sum(int(x) for x in fields[11:15]) / float(CLK)
    return total


def pg_stat(pg):
    """(xact_commit, tup_inserted, tup_updated) of the benchmark's PostgreSQL database."""
    try:
        conn = pg.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT xact_commit, tup_inserted, tup_updated FROM pg_stat_database "
                            "WHERE datname = current_database()")
                return cur.fetchone()
        finally:
            conn.close()
    except Exception:
        return None


def read_probes(probe_dir):
    out = {}
    for path in glob.glob(os.path.join(probe_dir, "probe-*.json")):
        try:
            with open(path) as f:
                d = json.load(f)
            out[d["pid"]] = d
        except (OSError, ValueError, KeyError):
            pass
    return out


def probe_delta(before, after, pids=None):
    keys = ("statements", "executemany_rows", "commits", "batches", "batch_items", "inbound", "published")
    total = {k: 0 for k in keys}
    verbs = collections.Counter()
    for pid, a in after.items():
        if pids is not None and pid not in pids:
            continue
        b = before.get(pid, {})
        for k in keys:
            total[k] += a.get(k, 0) - b.get(k, 0)
        for v, n in a.get("by_verb", {}).items():
            verbs[v] += n - b.get("by_verb", {}).get(v, 0)
    total["by_verb"] = {v: n for v, n in verbs.items() if n}
    return total


# ---------------------------------------------------------------------------
# client side (runs in 1 or 2 separate processes)
# ---------------------------------------------------------------------------

class Client:
    __slots__ = ("idx", "code", "group", "url", "ws", "sends", "final_value", "ranges", "last_seen",
                 "cur_seq", "cur_map", "cur_map_t", "frames", "maps", "out_of_order", "errors",
                 "close_code", "ready", "snap_map", "others", "upstream", "reconnects")

    def __init__(self, idx, code, group, url, others):
        self.idx, self.code, self.group, self.url = idx, code, group, url
        self.others = others  # {code: sender idx} of the other members
        self.ws = None
        self.sends = []  # send time of counter k at index k-1
        self.final_value = None
        self.ranges = []  # (sender idx, lo, hi, t_recv)
        self.last_seen = {c: 0 for c in others}
        self.cur_seq = -1
        self.cur_map = None
        self.cur_map_t = None
        self.frames = 0
        self.maps = 0
        self.out_of_order = 0
        self.errors = []
        self.close_code = None
        self.ready = None
        self.snap_map = None
        self.upstream = None  # "127.0.0.1:port" of the server holding the socket (nginx's X-Upstream)
        self.reconnects = 0


async def _connect(client, sem, compression, group_size):
    import websockets

    from tests.pgnginx import upstream_of  # nginx's X-Upstream header

    async with sem:
        for attempt in range(5):
            try:
                client.ws = await websockets.connect(
                    client.url, compression=compression, ping_interval=None, max_size=2 ** 22,
                    open_timeout=60, close_timeout=2, max_queue=None,
                )
                client.upstream = upstream_of(client.ws) or client.upstream
                return
            except Exception as exc:  # retry: a busy server may refuse for a moment
                client.errors.append("connect: %r" % (exc,))
                await asyncio.sleep(0.5 * (attempt + 1))
        raise RuntimeError("could not connect %s" % client.code)


async def _spread_groups(clients, sem, compression, group_size, n_servers, tries=10):
    """Behind nginx: reconnect members until no group sits on one process only.

    nginx places sockets round robin in the order the handshakes arrive, so
    with concurrent connects some groups land on one process.  For each such
    group (when there are 2+ processes), its last member reconnects until
    nginx hands it to another process (``tries`` times at most).  Runs before
    the readers start; the period of the ``benchmark`` config never ends.
    """
    if n_servers < 2:
        return
    by_group = collections.defaultdict(list)
    for c in clients:
        by_group[c.group].append(c)
    for members in by_group.values():
        if len(members) < 2:
            continue
        last = members[-1]
        for _ in range(tries):
            if len({m.upstream for m in members}) >= 2 or last.upstream is None:
                break
            try:
                await asyncio.wait_for(last.ws.close(), 2)
            except Exception:
                pass
            last.reconnects += 1
            await _connect(last, sem, compression, group_size)


def _on_map(client, msg, now):
    payload = msg.get("payload")
    seq = msg.get("seq")
    ts = (msg.get("ts") or 0) / 1000.0
    if not isinstance(payload, dict):
        return
    client.maps += 1
    if seq is not None:
        if seq > client.cur_seq:
            client.cur_seq = seq
            client.cur_map = payload
            client.cur_map_t = now
        else:
            client.out_of_order += 1
    last_seen = client.last_seen
    for code, sidx in client.others.items():
        v = payload.get(code)
        if v is None or not isinstance(v, (int, float)) or v < VALUE_BASE:
            continue
        k = int(v) - sidx * VALUE_BASE
        last = last_seen[code]
        if k > last:
            client.ranges.append((sidx, last + 1, k, now, ts))
            last_seen[code] = k


async def _reader(client, group_size):
    ws = client.ws
    loads = json.loads
    clock = time.time
    try:
        async for text in ws:
            now = clock()
            client.frames += 1
            msg = loads(text)
            ch = msg.get("channel")
            if ch == "group_decisions":
                _on_map(client, msg, now)
                if client.ready is None and client.cur_map is not None and len(client.cur_map) >= group_size:
                    client.ready = now
            elif ch == "error":
                client.errors.append(text[:300])
    except Exception as exc:
        client.errors.append("reader: %r" % (exc,))
    client.close_code = ws.close_code


async def _sender(client, rate, arrival, t_start, t_end, rng):
    ws = client.ws
    clock = time.time
    dumps = json.dumps
    base = client.idx * VALUE_BASE
    if arrival == "paced":
        t = t_start + rng.random() / rate
    else:
        t = t_start + rng.expovariate(rate)
    k = 0
    lag = []
    try:
        while t < t_end:
            delay = t - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            now = clock()
            lag.append(now - t)
            k += 1
            value = base + k
            client.sends.append(now)
            await ws.send(dumps({"channel": "decisions", "payload": value}))
            client.final_value = value
            t += (1.0 / rate) if arrival == "paced" else rng.expovariate(rate)
    except Exception as exc:
        client.errors.append("sender: %r" % (exc,))
    return lag


async def _loop_lag(stop_at, out):
    """How late the event loop wakes up (client saturation)."""
    while time.time() < stop_at:
        t = time.perf_counter()
        await asyncio.sleep(0.01)
        out.append(time.perf_counter() - t - 0.01)


async def _worker_main(conn, plan):
    raise_fd_limit(plan["fd_limit"])
    compression = "deflate" if plan["compression"] == "deflate" else None
    clients = [Client(*spec) for spec in plan["clients"]]
    sem = asyncio.Semaphore(plan["connect_concurrency"])
    t0 = time.time()
    await asyncio.gather(*[_connect(c, sem, compression, plan["group_size"]) for c in clients])
    if plan.get("spread"):
        await _spread_groups(clients, sem, compression, plan["group_size"], plan["n_servers"])
    readers = [asyncio.ensure_future(_reader(c, plan["group_size"])) for c in clients]
    t_conn = time.time() - t0
    # every member must have seen the group's first full map (all connected)
    deadline = time.time() + plan["ready_timeout"]
    while time.time() < deadline and any(c.ready is None for c in clients):
        await asyncio.sleep(0.05)
    not_ready = sum(1 for c in clients if c.ready is None)
    conn.send({"connected": len(clients), "connect_s": t_conn, "not_ready": not_ready})
    msg = await asyncio.get_event_loop().run_in_executor(None, conn.recv)
    t_start, t_measure, t_end = msg["t_start"], msg["t_measure"], msg["t_end"]
    t_snap, t_final = t_end + 1.0, t_end + msg["settle"]
    rng = random.Random(plan["seed"])
    lag_samples = []
    lag_task = asyncio.ensure_future(_loop_lag(t_final, lag_samples))
    # client CPU inside the measured window
    cpu = {}

    async def cpu_mark(name, at):
        await asyncio.sleep(max(0.0, at - time.time()))
        cpu[name] = sum(os.times()[:2])

    marks = [asyncio.ensure_future(cpu_mark("start", t_measure)), asyncio.ensure_future(cpu_mark("end", t_end))]
    senders = [asyncio.ensure_future(_sender(c, plan["rate"], plan["arrival"], t_start, t_end, random.Random(rng.random())))
               for c in clients]
    send_lag = []
    for s in senders:
        send_lag.extend(await s)
    await asyncio.gather(*marks)
    await asyncio.sleep(max(0.0, t_snap - time.time()))
    for c in clients:
        c.snap_map = dict(c.cur_map) if c.cur_map else None
    await asyncio.sleep(max(0.0, t_final - time.time()))
    await lag_task
    for c in clients:
        try:
            await asyncio.wait_for(c.ws.close(), 2)
        except Exception:
            pass
    for r in readers:
        r.cancel()
    send_lag.sort()
    lag_samples.sort()
    result = {
        "clients": [
            {
                "idx": c.idx, "code": c.code, "group": c.group, "sends": c.sends, "final_value": c.final_value,
                "ranges": c.ranges, "cur_map": c.cur_map, "cur_map_t": c.cur_map_t, "snap_map": c.snap_map,
                "frames": c.frames, "maps": c.maps, "out_of_order": c.out_of_order, "errors": c.errors[:5],
                "n_errors": len(c.errors), "close_code": c.close_code, "upstream": c.upstream,
                "reconnects": c.reconnects,
            }
            for c in clients
        ],
        "cpu_s": cpu.get("end", 0) - cpu.get("start", 0),
        "send_lag_p99_ms": (pct(send_lag, 99) or 0) * 1000,
        "loop_lag_p99_ms": (pct(lag_samples, 99) or 0) * 1000,
        "loop_lag_max_ms": (lag_samples[-1] if lag_samples else 0) * 1000,
    }
    conn.send(result)


def worker_entry(conn, plan):
    try:
        asyncio.get_event_loop().run_until_complete(_worker_main(conn, plan))
    except Exception as exc:
        import traceback

        conn.send({"fatal": "%r\n%s" % (exc, traceback.format_exc())})


# ---------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------

def wait_servers_settled(servers, timeout=15.0):
    """Wait until oTree's timeout worker of each server is up.

    It clears a table when it starts; a socket that connects at that moment
    can meet "database is locked" on SQLite (reported, not hidden: the
    benchmark only avoids provoking it at start-up).
    """
    deadline = time.time() + timeout
    for s in servers:
        while time.time() < deadline and "timeoutworker is listening" not in s.read_log():
            time.sleep(0.1)
    time.sleep(0.3)


def configure_django(database_url, db_path):
    """Django of this process on the benchmark's database, tables created."""
    from tests import harness, pgnginx

    if database_url:
        # like harness.configure_django, on the given database
        pgnginx.configure_django_url(database_url)
        # the tables as `otree resetdb` makes them (every app synced, no
        # migrations), so that a database prepared with resetdb (or by
        # --postgres) is complete already: only missing tables are created
        # and existing data stays (sessions have unique codes)
        from otree.common import patch_migrations_module

        patch_migrations_module()
    else:
        harness.configure_django(db_path)
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)
    harness.collectstatic()


def spread_stats(results, n_servers):
    """Sockets per server and groups whose members sit on 2+ server processes."""
    by_group = collections.defaultdict(set)
    per_server = collections.Counter()
    unknown = 0
    for res in results:
        for c in res["clients"]:
            up = c.get("upstream")
            if up is None:
                unknown += 1
            per_server[up or "?"] += 1
            by_group[c["group"]].add(up)
    spread = sum(1 for ups in by_group.values() if len(ups - {None}) >= 2)
    return {
        "groups_spread": spread, "groups_total": len(by_group), "sockets_per_server": dict(per_server),
        "upstream_unknown": unknown,
        "reconnects_to_spread": sum(c.get("reconnects", 0) for res in results for c in res["clients"]),
    }


def db_counts(session_code):
    from django.db import connections
    from django.db.models import Count

    from otree_redwood.models import Event

    connections.close_all()
    from django.apps import apps

    Group = apps.get_app_config(APP).get_model("Group")
    pks = list(Group.objects.filter(session__code=session_code).values_list("pk", flat=True))
    rows = Event.objects.filter(group_pk__in=pks).order_by().values("channel").annotate(n=Count("id"))
    out = {r["channel"]: r["n"] for r in rows}
    connections.close_all()
    return out


def analyse(results, t_measure, t_end, group_size, dump=None):
    """Delivery, latency and convergence from the clients' records."""
    clients = {}
    for res in results:
        for c in res["clients"]:
            clients[c["idx"]] = c
    by_group = collections.defaultdict(list)
    for c in clients.values():
        by_group[c["group"]].append(c)
    truth = {c["code"]: c["final_value"] for c in clients.values()}
    measured_pairs = exact = superseded = 0
    lat_all, lat_exact = [], []
    leg_in, leg_out = [], []
    decisions_window = decisions_total = 0
    for c in clients.values():
        decisions_total += len(c["sends"])
        decisions_window += sum(1 for t in c["sends"] if t_measure <= t < t_end)
    for g, members in by_group.items():
        for y in members:
            ranges_by_sender = collections.defaultdict(list)
            for sidx, lo, hi, t, ts_srv in y["ranges"]:
                ranges_by_sender[sidx].append((lo, hi, t, ts_srv))
            for x in members:
                if x is y:
                    continue
                sends = x["sends"]
                covered = {}
                for lo, hi, t, ts_srv in ranges_by_sender.get(x["idx"], ()):
                    for k in range(lo, min(hi, len(sends)) + 1):
                        covered[k] = (t, k == hi, ts_srv)
                for k, ts in enumerate(sends, 1):
                    if not (t_measure <= ts < t_end):
                        continue
                    measured_pairs += 1
                    hit = covered.get(k)
                    if hit is None:
                        continue
                    t, is_exact, ts_srv = hit
                    lat = (t - ts) * 1000.0
                    lat_all.append(lat)
                    if is_exact and ts_srv:
                        # the map's "ts" is the server clock when its batch began
                        leg_in.append((ts_srv - ts) * 1000.0)
                        leg_out.append((t - ts_srv) * 1000.0)
                    if dump is not None:
                        dump.append((ts, lat, is_exact, x["idx"], y["idx"]))
                    if is_exact:
                        exact += 1
                        lat_exact.append(lat)
                    else:
                        superseded += 1
    lat_all.sort()
    lat_exact.sort()
    leg_in.sort()
    leg_out.sort()
    # final state: each member's latest map vs the decisions really sent last
    mismatches = 0
    converge = []
    not_converged = 0
    for c in clients.values():
        members = by_group[c["group"]]
        want = {m["code"]: m["final_value"] for m in members if m["final_value"] is not None}

        def matches(mp):
            return mp is not None and all(mp.get(code) == v for code, v in want.items())

        if not matches(c["snap_map"]):
            mismatches += 1
        if matches(c["cur_map"]):
            converge.append(max(0.0, (c["cur_map_t"] - t_end)) * 1000.0)
        else:
            not_converged += 1
    converge.sort()
    delivered = exact + superseded
    return {
        "decisions_total": decisions_total,
        "decisions_window": decisions_window,
        "pairs": measured_pairs,
        "delivered": delivered,
        "exact": exact,
        "superseded": superseded,
        "delivered_pct": 100.0 * delivered / measured_pairs if measured_pairs else None,
        "exact_pct": 100.0 * exact / measured_pairs if measured_pairs else None,
        "lat_p50": pct(lat_all, 50), "lat_p95": pct(lat_all, 95), "lat_p99": pct(lat_all, 99),
        "lat_max": lat_all[-1] if lat_all else None,
        "lat_exact_p50": pct(lat_exact, 50), "lat_exact_p99": pct(lat_exact, 99),
        "leg_in_p50": pct(leg_in, 50), "leg_in_p99": pct(leg_in, 99),
        "leg_out_p50": pct(leg_out, 50), "leg_out_p99": pct(leg_out, 99),
        "mismatches": mismatches,
        "not_converged": not_converged,
        "converge_max_ms": converge[-1] if converge else None,
        "truth_members": len(truth),
        "frames": sum(c["frames"] for c in clients.values()),
        "maps": sum(c["maps"] for c in clients.values()),
        "out_of_order": sum(c["out_of_order"] for c in clients.values()),
        "client_errors": sum(c["n_errors"] for c in clients.values()),
        "error_samples": [e for c in clients.values() for e in c["errors"]][:5],
        "closed_by_server": sum(1 for c in clients.values() if c["close_code"] not in (None, 1000, 1005)),
    }


def run(args):
    from tests import harness

    fd_need = args.groups * args.group_size * 2 + 1000
    fd_limit = raise_fd_limit(max(fd_need, 4096))
    tmp = tempfile.mkdtemp(prefix="redwood-bench-")
    db_path = os.path.join(tmp, "db.sqlite3")
    probe_dir = os.path.join(tmp, "probe")
    os.makedirs(probe_dir)
    redis_server = harness.RedisServer()
    os.environ["REDWOOD_REDIS_URL"] = redis_server.url(0)
    servers = []
    workers = []
    profile_proc = None
    pg = proxy = None
    try:
        t_setup = time.time()
        database_url = args.database_url
        if args.postgres:
            from tests import pgnginx

            # a throwaway cluster with PostgreSQL's defaults (fsync and
            # synchronous commits on), tables made by `otree resetdb`
            pg = pgnginx.PostgresServer(max_connections=max(200, 10 * args.servers + 50))
            database_url = pg.url()
            pgnginx.resetdb(database_url)
        configure_django(database_url, db_path)
        n_players = args.groups * args.group_size
        session = harness.create_session("benchmark", n_players, group_size=args.group_size)
        members = harness.group_members(session, APP)
        from django.db import connections

        connections.close_all()
        extra = {
            "REDWOOD_PROCESSES": str(args.servers),
            "PYTHONPATH": PROBE_DIR + os.pathsep + ROOT,
            "OTREE_PRODUCTION": "1",
        }
        if args.count_sql:
            extra["REDWOOD_BENCH_PROBE_DIR"] = probe_dir
        if database_url:
            extra["DATABASE_URL"] = database_url
        if args.nodelay_fix:
            extra["REDWOOD_BENCH_NODELAY"] = "1"
        if args.gc_freeze:
            extra["REDWOOD_BENCH_GC_FREEZE"] = "1"
        if args.probe_timing:
            extra["REDWOOD_BENCH_PROBE_TIMING"] = "1"
        for i in range(args.servers):
            srv = harness.ServerProcess(db_path, redis_server.url(0), extra_env=extra,
                                        log_path=os.path.join(tmp, "server-%d.log" % i))
            srv.start()
            servers.append(srv)
        wait_servers_settled(servers)
        if args.nginx:
            from tests import pgnginx

            proxy = pgnginx.NginxProxy([s.port for s in servers])
        # players: round-robin over servers (a group's members on different
        # processes) and over client processes; behind nginx, nginx assigns
        # the servers (its X-Upstream header tells which) and a group's
        # members stay in one client process (to spread it, see _spread_groups)
        specs = [[] for _ in range(args.client_procs)]
        assigned = {}
        idx = 0
        all_codes = {}
        for gi, (gpk, codes) in enumerate(members):
            for code in codes:
                idx += 1
                all_codes[code] = idx
        idx = 0
        for gi, (gpk, codes) in enumerate(members):
            for code in codes:
                idx += 1
                others = {c: all_codes[c] for c in codes if c != code}
                if proxy is not None:
                    url = proxy.ws_base + harness.socket_path(APP, gpk, code)
                    specs[gi % args.client_procs].append((idx, code, gpk, url, others))
                else:
                    srv = servers[(idx - 1) % len(servers)]
                    assigned[idx] = "127.0.0.1:%d" % srv.port
                    url = srv.ws_base + harness.socket_path(APP, gpk, code)
                    specs[(idx - 1) % args.client_procs].append((idx, code, gpk, url, others))
        ctx = multiprocessing.get_context("fork")
        conns = []
        for w, spec in enumerate(specs):
            parent_end, child_end = ctx.Pipe()
            plan = {
                "clients": spec, "rate": args.rate, "arrival": args.arrival, "group_size": args.group_size,
                "compression": args.compression, "fd_limit": max(fd_need, 4096), "seed": args.seed * 100 + w,
                "connect_concurrency": args.connect_concurrency, "ready_timeout": args.ready_timeout,
                "spread": proxy is not None and args.spread, "n_servers": args.servers,
            }
            p = ctx.Process(target=worker_entry, args=(child_end, plan), daemon=True)
            p.start()
            workers.append(p)
            conns.append(parent_end)
        t_conn0 = time.time()
        hello = [c.recv() for c in conns]
        for h in hello:
            if "fatal" in h:
                raise RuntimeError("client worker failed: " + h["fatal"])
        connect_s = time.time() - t_conn0
        not_ready = sum(h["not_ready"] for h in hello)
        setup_s = time.time() - t_setup
        t_start = time.time() + 0.5
        t_measure = t_start + args.warmup
        t_end = t_measure + args.duration
        for c in conns:
            c.send({"t_start": t_start, "t_measure": t_measure, "t_end": t_end, "settle": args.settle})
        pgids = [s.proc.pid for s in servers]
        time.sleep(max(0.0, t_measure - time.time()))
        ours = [os.getpid(), redis_server.proc.pid] + [p.pid for p in workers]
        families = ([pg.postmaster_pid()] if pg is not None else []) + ([proxy.proc.pid] if proxy is not None else [])
        stat0 = pg_stat(pg) if pg is not None else None
        busy0 = machine_busy_seconds()
        fam0 = {pid: family_cpu_seconds(pid) for pid in families}
        ours0 = sum(proc_cpu_seconds(pid) for pid in ours) + sum(fam0.values())
        cpu0 = {g: tree_cpu(g) for g in pgids}
        redis0 = proc_cpu_seconds(redis_server.proc.pid)
        probe0 = read_probes(probe_dir)
        if args.profile:
            profile_out = os.path.join(tmp, "pyspy.txt")
            pyspy = os.path.join(harness.BIN, "py-spy")
            profile_proc = subprocess.Popen(
                [pyspy, "record", "-p", str(servers[0].proc.pid), "-d", str(int(args.profile)), "-r", "200", "--gil",
                 "--nonblocking", "--format", "raw", "-o", profile_out],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
        time.sleep(max(0.0, t_end - time.time()))
        cpu1 = {g: tree_cpu(g) for g in pgids}
        redis1 = proc_cpu_seconds(redis_server.proc.pid)
        busy1 = machine_busy_seconds()
        fam1 = {pid: family_cpu_seconds(pid) for pid in families}
        ours1 = sum(proc_cpu_seconds(pid) for pid in ours) + sum(fam1.values())
        stat1 = pg_stat(pg) if pg is not None else None
        if profile_proc is not None:
            ours1 += proc_cpu_seconds(profile_proc.pid)
        time.sleep(0.45)  # the probe files are rewritten every 0.2 s
        probe1 = read_probes(probe_dir)
        results = []
        for c in conns:
            r = c.recv()
            if "fatal" in r:
                raise RuntimeError("client worker failed: " + r["fatal"])
            results.append(r)
        for p in workers:
            p.join(10)
        window = t_end - t_measure
        dump = [] if args.dump_latency else None
        a = analyse(results, t_measure, t_end, args.group_size, dump)
        for r in results:
            for c in r["clients"]:
                if c.get("upstream") is None:
                    c["upstream"] = assigned.get(c["idx"])
        spread = spread_stats(results, args.servers)
        if dump is not None:
            dump.sort()
            with open(args.dump_latency, "w") as f:
                f.write("send_t,latency_ms,exact,sender,receiver\n")
                for row in dump:
                    f.write("%.6f,%.3f,%d,%d,%d\n" % row)
        # every decision sent must be stored (wait for the pipeline to drain)
        t_wait = time.time()
        stored = {}
        while True:
            stored = db_counts(session.code)
            if stored.get("decisions", 0) >= a["decisions_total"] or time.time() - t_wait > args.store_wait:
                break
            time.sleep(0.5)
        server_cpu = {}
        main_cpu = 0.0
        for g in pgids:
            for pid, c1 in cpu1[g].items():
                d = c1 - cpu0[g].get(pid, 0.0)
                server_cpu[pid] = d
                if pid == g:
                    main_cpu += d
        total_cpu = sum(server_cpu.values())
        dec = max(1, a["decisions_window"])
        main_pids = set(pgids)
        pr = probe_delta(probe0, probe1, main_pids) if args.count_sql else None
        pr_all = probe_delta(probe0, probe1) if args.count_sql else None
        writes = None
        if pr:
            writes = sum(n for v, n in pr["by_verb"].items() if v in ("INSERT", "UPDATE", "DELETE", "REPLACE"))
        client_cpu = sum(r["cpu_s"] for r in results)
        out = {
            "label": args.label,
            "args": {k: v for k, v in vars(args).items() if k != "json"},
            "players": n_players, "groups": args.groups, "group_size": args.group_size,
            "servers": args.servers, "client_procs": args.client_procs,
            "rate_per_player": args.rate, "target_total_rate": args.rate * n_players,
            "window_s": window, "setup_s": setup_s, "connect_s": connect_s, "not_ready": not_ready,
            "fd_limit": list(fd_limit),
            "achieved_rate": a["decisions_window"] / window,
            "server_cpu_pct": 100.0 * total_cpu / window,
            "server_main_cpu_pct": 100.0 * main_cpu / window,
            "server_cpu_ms_per_decision": 1000.0 * total_cpu / dec,
            "server_main_cpu_ms_per_decision": 1000.0 * main_cpu / dec,
            "redis_cpu_pct": 100.0 * (redis1 - redis0) / window,
            "redis_cpu_ms_per_decision": 1000.0 * (redis1 - redis0) / dec,
            "client_cpu_pct": 100.0 * client_cpu / window,
            # CPU used by other programs on the machine during the window (% of one core)
            "other_cpu_pct": max(0.0, 100.0 * ((busy1 - busy0) - (ours1 - ours0)
                                               - sum(sum(cpu1[g].values()) - sum(cpu0[g].values()) for g in pgids))
                                 / window),
            "client_send_lag_p99_ms": max(r["send_lag_p99_ms"] for r in results),
            "client_loop_lag_p99_ms": max(r["loop_lag_p99_ms"] for r in results),
            "client_loop_lag_max_ms": max(r["loop_lag_max_ms"] for r in results),
            "stored_decisions": stored.get("decisions", 0),
            "stored_group_decisions": stored.get("group_decisions", 0),
            "all_stored": stored.get("decisions", 0) == a["decisions_total"],
            "store_wait_s": time.time() - t_wait,
            "event_rows_per_decision": (sum(stored.values())) / max(1, a["decisions_total"]),
        }
        out.update(a)
        out.update(spread)
        out["database"] = "postgresql" if (database_url or "").startswith("postgres") else (
            "sqlite" if not database_url else database_url.split(":", 1)[0])
        out["nginx"] = proxy is not None
        if pg is not None:
            pg_cpu = fam1[pg.postmaster_pid()] - fam0[pg.postmaster_pid()]
            out["pg_cpu_pct"] = 100.0 * pg_cpu / window
            out["pg_cpu_ms_per_decision"] = 1000.0 * pg_cpu / dec
            if stat0 and stat1:
                # PostgreSQL's own counters (pg_stat_database; flushed about
                # every second, so a window's edges blur a little)
                out["pg_xact_commit_per_decision"] = (stat1[0] - stat0[0]) / dec
                out["pg_tup_inserted_per_decision"] = (stat1[1] - stat0[1]) / dec
                out["pg_tup_updated_per_decision"] = (stat1[2] - stat0[2]) / dec
        if proxy is not None:
            ng_cpu = fam1[proxy.proc.pid] - fam0[proxy.proc.pid]
            out["nginx_cpu_pct"] = 100.0 * ng_cpu / window
            out["nginx_cpu_ms_per_decision"] = 1000.0 * ng_cpu / dec
        if pr:
            out.update({
                "sql_per_decision": pr["statements"] / dec,
                "sql_writes_per_decision": writes / dec,
                "commits_per_decision": pr["commits"] / dec,
                "batches_per_decision": pr["batches"] / dec,
                "mean_batch_items": pr["batch_items"] / max(1, pr["batches"]),
                "sql_by_verb": pr["by_verb"],
                "sql_other_processes": pr_all["statements"] - pr["statements"],
            })
            if out["database"] == "postgresql":
                # psycopg2 sends BEGIN itself, not through Django's cursor:
                # statements exclude BEGIN there (on SQLite they include
                # the BEGIN IMMEDIATE of each transaction); commits are Django's
                out["sql_note"] = "PostgreSQL: statements exclude BEGIN (sent by psycopg2, not Django's cursor)"
        if args.probe_timing:
            out["server_timing"] = {str(pid): d.get("timing") for pid, d in probe1.items() if pid in main_pids}
        if profile_proc is not None:
            _, err = profile_proc.communicate(timeout=args.profile + 30)
            out["profile"] = summarize_profile(os.path.join(tmp, "pyspy.txt"), err)
        logs = "".join(s.read_log() for s in servers)
        out["server_log_warnings"] = sum(1 for line in logs.splitlines()
                                         if "WARNING" in line or "ERROR" in line or "Traceback" in line)
        out["server_log_samples"] = [line for line in logs.splitlines()
                                     if "WARNING" in line or "ERROR" in line][:5]
        return out
    finally:
        for p in workers:
            if p.is_alive():
                p.terminate()
        if proxy is not None:
            proxy.stop()
        if profile_proc is not None and profile_proc.poll() is None:
            profile_proc.kill()
        for s in servers:
            s.kill()
        if pg is not None:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # Django not configured yet
                pass
            pg.stop()
        redis_server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept", tmp, file=sys.stderr)


def summarize_profile(path, err):
    """Top functions (self and inclusive share of samples) from py-spy raw output."""
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return {"error": (err or b"").decode("utf-8", "replace")[-500:]}
    self_c, incl_c = collections.Counter(), collections.Counter()
    total = 0
    for line in lines:
        stack, _, n = line.rpartition(" ")
        try:
            n = int(n)
        except ValueError:
            continue
        frames = stack.split(";")
        total += n
        # "func (file.py:123)" -> "func (file.py)": a function counts once
        names = [re.sub(r":\d+\)$", ")", f) for f in frames]
        self_c[names[-1]] += n
        for name in set(names):
            incl_c[name] += n
    return {
        "samples": total,
        "self": [(name, round(100.0 * n / total, 1)) for name, n in self_c.most_common(15)] if total else [],
        "inclusive": [(name, round(100.0 * n / total, 1)) for name, n in incl_c.most_common(40)] if total else [],
    }


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return ("%." + str(nd) + "f") % v
    return str(v)


def report(out):
    lines = [
        "== %s: %d groups x %d, %.3g/s per player (target %.0f/s), %d server(s)%s, %s, %d client proc(s), %.0f s window"
        % (out.get("label") or "run", out["groups"], out["group_size"], out["rate_per_player"],
           out["target_total_rate"], out["servers"], " behind nginx" if out.get("nginx") else "",
           out.get("database", "sqlite"), out["client_procs"], out["window_s"]),
        "achieved %.1f decisions/s; delivered %s%% (exact %s%%, superseded %d, missing %d of %d pairs)"
        % (out["achieved_rate"], fmt(out["delivered_pct"], 3), fmt(out["exact_pct"], 3), out["superseded"],
           out["pairs"] - out["delivered"], out["pairs"]),
        "latency ms p50 %s p95 %s p99 %s max %s (exact-only p50 %s p99 %s)"
        % (fmt(out["lat_p50"]), fmt(out["lat_p95"]), fmt(out["lat_p99"]), fmt(out["lat_max"]),
           fmt(out["lat_exact_p50"]), fmt(out["lat_exact_p99"])),
        "  legs (exact receipts, split at the map's server ts = start of its batch): "
        "send->batch p50 %s p99 %s ms; batch->receipt p50 %s p99 %s ms"
        % (fmt(out["leg_in_p50"]), fmt(out["leg_in_p99"]), fmt(out["leg_out_p50"]), fmt(out["leg_out_p99"])),
        "final-state mismatches after 1 s: %d of %d; not converged at end: %d; last map change %s ms after stop"
        % (out["mismatches"], out["truth_members"], out["not_converged"], fmt(out["converge_max_ms"])),
        "server CPU %.0f%% of a core (%.2f ms/decision; main process %.2f ms); redis %.0f%% (%.3f ms/decision); "
        "clients %.0f%% (loop lag p99 %.1f ms, max %.1f ms); other programs on the machine %.0f%%"
        % (out["server_cpu_pct"], out["server_cpu_ms_per_decision"], out["server_main_cpu_ms_per_decision"],
           out["redis_cpu_pct"], out["redis_cpu_ms_per_decision"], out["client_cpu_pct"],
           out["client_loop_lag_p99_ms"], out["client_loop_lag_max_ms"], out["other_cpu_pct"]),
        "stored: %d decisions of %d sent (%s), %d group_decisions; %.2f Event rows/decision"
        % (out["stored_decisions"], out["decisions_total"], "all stored" if out["all_stored"] else "MISSING",
           out["stored_group_decisions"], out["event_rows_per_decision"]),
    ]
    if "sql_per_decision" in out:
        lines.append(
            "SQL/decision %.3f (writes %.3f, commits %.3f); batches/decision %.3f, mean batch %.1f items; by verb %s"
            % (out["sql_per_decision"], out["sql_writes_per_decision"], out["commits_per_decision"],
               out["batches_per_decision"], out["mean_batch_items"], out["sql_by_verb"]))
        if out.get("sql_note"):
            lines.append("  note: " + out["sql_note"])
    if "pg_cpu_pct" in out:
        lines.append("PostgreSQL CPU %.0f%% of a core (%.3f ms/decision); its own counters per decision: "
                     "transactions committed %s, rows inserted %s, rows updated %s"
                     % (out["pg_cpu_pct"], out["pg_cpu_ms_per_decision"],
                        fmt(out.get("pg_xact_commit_per_decision"), 3), fmt(out.get("pg_tup_inserted_per_decision"), 3),
                        fmt(out.get("pg_tup_updated_per_decision"), 3)))
    if "nginx_cpu_pct" in out:
        lines.append("nginx CPU %.0f%% of a core (%.3f ms/decision)" % (out["nginx_cpu_pct"], out["nginx_cpu_ms_per_decision"]))
    if "groups_spread" in out:
        lines.append("groups spread over 2+ server processes: %d of %d; sockets per server %s%s"
                     % (out["groups_spread"], out["groups_total"],
                        ", ".join("%s: %d" % kv for kv in sorted(out["sockets_per_server"].items())),
                        "; %d reconnects to spread groups" % out["reconnects_to_spread"]
                        if out.get("reconnects_to_spread") else ""))
    lines.append("frames %d, maps %d, stale maps (seq not above the latest: duplicate or reordered) %d, client errors %d, closed by server %d, server log warnings %d; "
                 "connect %.1f s, setup %.1f s, not ready %d"
                 % (out["frames"], out["maps"], out["out_of_order"], out["client_errors"], out["closed_by_server"],
                    out["server_log_warnings"], out["connect_s"], out["setup_s"], out["not_ready"]))
    if out["error_samples"]:
        lines.append("client error samples: %s" % out["error_samples"][:3])
    if out["server_log_samples"]:
        lines.append("server log samples: %s" % out["server_log_samples"][:3])
    for pid, t in (out.get("server_timing") or {}).items():
        lines.append("server %s timing (ms): %s" % (pid, "; ".join(
            "%s n=%d p50=%s p99=%s max=%s" % (k, v["n"], v["p50"], v["p99"], v["max"]) for k, v in (t or {}).items())))
    prof = out.get("profile")
    if prof:
        lines.append("py-spy (%s samples) self: %s" % (prof.get("samples"), prof.get("self", prof)))
        lines.append("py-spy inclusive: %s" % (prof.get("inclusive", [])[:25],))
    return "\n".join(lines)


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--groups", type=int, default=20, help="number of groups (default 20)")
    p.add_argument("--group-size", type=int, default=2, help="players per group (default 2)")
    p.add_argument("--rate", type=float, default=10.0, help="decisions per second per player (default 10)")
    p.add_argument("--arrival", choices=["poisson", "paced"], default="poisson")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds (default 20)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring (default 5)")
    p.add_argument("--settle", type=float, default=3.0,
                   help="seconds the clients keep reading after the load stops (>= 1; default 3)")
    p.add_argument("--servers", type=int, default=1, help="server processes (default 1)")
    p.add_argument("--client-procs", type=int, default=1, choices=[1, 2])
    p.add_argument("--database-url", default=None,
                   help="e.g. postgres://user:pw@host/db, an existing database (default: a fresh SQLite file)")
    p.add_argument("--postgres", action="store_true",
                   help="start a throwaway PostgreSQL (tests/pgnginx.py) and use it for the session and every server")
    p.add_argument("--nginx", action="store_true",
                   help="start nginx (round robin) in front of the --servers processes; clients connect through it")
    p.add_argument("--no-spread", dest="spread", action="store_false",
                   help="with --nginx: keep nginx's placement even when a group's members all land on one "
                        "process (default: reconnect one member until the group spans 2+ processes)")
    p.add_argument("--compression", choices=["none", "deflate"], default="none",
                   help="permessage-deflate offered by the clients (browsers offer it; default none)")
    p.add_argument("--connect-concurrency", type=int, default=20)
    p.add_argument("--ready-timeout", type=float, default=120.0)
    p.add_argument("--store-wait", type=float, default=30.0,
                   help="seconds to wait for the server to store every decision")
    p.add_argument("--no-count-sql", dest="count_sql", action="store_false",
                   help="do not load the SQL-counting probe into the servers")
    p.add_argument("--nodelay-fix", action="store_true",
                   help="experiment: load the TCP_NODELAY fix into the servers through the probe "
                        "(the core has it since f4d7b5f)")
    p.add_argument("--gc-freeze", action="store_true",
                   help="experiment: gc.freeze() in the servers once their runtime has started")
    p.add_argument("--probe-timing", action="store_true",
                   help="time the pipeline phases, outbound legs and GC inside the servers (diagnostics)")
    p.add_argument("--profile", type=float, default=0,
                   help="py-spy the first server for this many seconds of the window")
    p.add_argument("--dump-latency", default=None, metavar="CSV",
                   help="write every (send time, latency, exact, sender, receiver) to this CSV")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--label", default="")
    p.add_argument("--json", default=None, help="also write the figures as JSON to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.postgres and args.database_url:
        parser().error("--postgres and --database-url exclude each other")
    if args.settle < 1.0:
        args.settle = 1.0
    out = run(args)
    print(report(out), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return out


if __name__ == "__main__":
    main()
