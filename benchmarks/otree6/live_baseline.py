"""oTree 6 live pages (``live_method``) under benchmarks/loadgen.py's load: the baseline of issue 16.

Issue 16 asks otree-redwood on oTree 6 to reach ten times the capacity of
oTree 6's own real-time tool.  This script measures that tool on this
machine, with loadgen.py's load pattern and definitions, so that the two can
be put side by side:

* a throwaway project (``otree startproject``) with one app, ``live_bench``:
  a page whose ``live_method`` stores every decision as an ``ExtraModel`` row
  (redwood stores every event), updates the group's map of latest decisions
  (a JSON text field) and returns the map to the whole group (``{0: ...}``);
* ``otree prodserver`` with ``OTREE_PRODUCTION=1`` on a fresh SQLite file, one
  process (oTree 6 serves in one process: one uvicorn worker);
* per offered rate: a new session of ``--groups`` groups of ``--group-size``,
  every participant opened at its start URL (so it is on the live page), one
  WebSocket per participant on oTree's ``/live`` URL, every client sending
  unique values (``(client index + 1) * 1e6 + counter``) with Poisson arrivals at
  ``rate / participants`` per second;
* latency as in loadgen.py: for a value v sent by X in the measured window
  and each other member Y, the time from X's send to the first map Y receives
  in which X's entry is v or newer (one clock: same machine);
* delivered %: such (v, Y) pairs seen by Y within ``--settle`` seconds after
  the load stops; "p99 (all)" counts the undelivered as infinitely late, so it
  is only finite when 99% arrived;
* achieved/s: decision rows the server stored during the measured window
  (read from the database), and server CPU per decision: utime+stime of the
  server's process group (from /proc) over the same window divided by those
  rows; it stays meaningful when the server saturates;
* the machine's load average and busy CPU during each run, because other
  work on a shared 2-core machine moves every latency figure.

Capacity is the highest achieved rate of any run (the server's own ceiling
once saturated), beside the CPU bound 1000 / (server CPU ms per decision).

Runs go from the lowest rate up, each on a fresh session; between runs the
script waits for the server to go idle (the backlog of a saturated run
drains first).

Usage (the oTree 6 venv, scripts/setup_venv6.sh)::

    .venv6/bin/python benchmarks/otree6/live_baseline.py
    .venv6/bin/python benchmarks/otree6/live_baseline.py --rates 40,400 --duration 20 --json out.json
"""
import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.parse
import urllib.request

CLK = os.sysconf("SC_CLK_TCK")
VALUE_BASE = 1000000
VENV_BIN = os.path.dirname(sys.executable)
OTREE = os.path.join(VENV_BIN, "otree")

APP = '''
import json
import time

from otree.api import *


class C(BaseConstants):
    NAME_IN_URL = "live_bench"
    PLAYERS_PER_GROUP = {group_size}
    NUM_ROUNDS = 1


class Subsession(BaseSubsession):
    pass


class Group(BaseGroup):
    decisions = models.LongStringField(initial="{{}}")


class Player(BasePlayer):
    pass


class Decision(ExtraModel):
    # every decision stored, as redwood stores every event
    group = models.Link(Group)
    sender = models.IntegerField()
    value = models.FloatField()
    ts = models.FloatField()


class Play(Page):
    @staticmethod
    def live_method(player, data):
        group = player.group
        v = data["v"]
        Decision.create(group=group, sender=player.id_in_group, value=v, ts=time.time())
        latest = json.loads(group.decisions)
        latest[str(player.id_in_group)] = v
        group.decisions = json.dumps(latest)
        return {{0: {{"map": latest}}}}


page_sequence = [Play]
'''

TEMPLATE = '''{% block title %}Live bench{% endblock %}
{% block content %}<p>live</p>{% endblock %}
'''

SETTINGS = '''
SESSION_CONFIGS = [dict(name="live_bench", app_sequence=["live_bench"], num_demo_participants={group_size})]
SESSION_CONFIG_DEFAULTS = dict(real_world_currency_per_point=1.00, participation_fee=0.00, doc="")
PARTICIPANT_FIELDS = []
SESSION_FIELDS = []
LANGUAGE_CODE = "en"
REAL_WORLD_CURRENCY_CODE = "USD"
USE_POINTS = True
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "bench"
DEMO_PAGE_INTRO_HTML = ""
SECRET_KEY = "live-baseline"
'''


# ---------------------------------------------------------------------------
# measurement helpers (the same definitions as benchmarks/loadgen.py)
# ---------------------------------------------------------------------------

def pct(values, p):
    """Percentile p (0-100) of a sorted list, nearest rank; None if empty."""
    if not values:
        return None
    k = max(0, min(len(values) - 1, int(math.ceil(p / 100.0 * len(values))) - 1))
    return values[k]


def group_cpu_seconds(pgid):
    """utime+stime of every live process of process group ``pgid``."""
    total = 0.0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()
        # fields[0] is stat field 3; pgrp is field 5, utime 14, stime 15
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / float(CLK)
    return total


def machine_busy_seconds():
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:9]]
    return (sum(vals) - vals[3] - vals[4]) / float(CLK)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------

def make_project(root, group_size, app="live_bench", source=APP, page="Play.html", template=TEMPLATE,
                 settings=SETTINGS):
    """A throwaway `otree startproject` project with one single-file app, its database made."""
    env = server_env()
    subprocess.run([OTREE, "startproject", "proj"], cwd=root, env=env, input="n\n",
                   capture_output=True, text=True, check=True)
    proj = os.path.join(root, "proj")
    with open(os.path.join(proj, "settings.py"), "w") as f:
        f.write(textwrap.dedent(settings.format(group_size=group_size)))
    os.makedirs(os.path.join(proj, app))
    with open(os.path.join(proj, app, "__init__.py"), "w") as f:
        f.write(textwrap.dedent(source.format(group_size=group_size)))
    with open(os.path.join(proj, app, page), "w") as f:
        f.write(template)
    r = subprocess.run([OTREE, "resetdb", "--noinput"], cwd=proj, env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit("otree resetdb failed:\n" + r.stdout + r.stderr)
    return proj


def server_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTREE_")}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["OTREE_PRODUCTION"] = "1"
    return env


class Server:
    def __init__(self, proj):
        self.proj = proj
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(proj, "prodserver.log"), "w")
        self.proc = subprocess.Popen(
            [OTREE, "prodserver", "127.0.0.1:%d" % self.port], cwd=proj, env=server_env(),
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.time() + 300
        while True:
            if self.proc.poll() is not None:
                sys.exit("prodserver exited; see %s" % self.log.name)
            try:
                urllib.request.urlopen(self.base + "/static/otree/js/live.js", timeout=10).read()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("prodserver did not come up; see %s" % self.log.name)
                time.sleep(0.3)

    def cpu(self):
        return group_cpu_seconds(self.proc.pid)

    def post(self, path, data):
        req = urllib.request.Request(self.base + path, data=json.dumps(data).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as r:
            return json.loads(r.read().decode() or "null")

    def new_session(self, n):
        code = self.post("/api/sessions", {"session_config_name": "live_bench", "num_participants": n})["code"]
        codes = [p["code"] for p in self.post("/api/get_session/%s" % code, {})["participants"]]
        for c in codes:  # puts the participant on the live page
            urllib.request.urlopen(self.base + "/InitializeParticipant/%s" % c, timeout=300).read()
        return code, codes

    def wait_idle(self, quiet=0.05, timeout=300):
        """Until the server used under ``quiet`` CPU seconds per second, twice in a row."""
        deadline = time.time() + timeout
        calm = 0
        last = self.cpu()
        while time.time() < deadline and calm < 2:
            time.sleep(1.0)
            now = self.cpu()
            calm = calm + 1 if now - last < quiet else 0
            last = now

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:  # prodserver's timeout worker shares the group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


def stored_rows(db_path):
    for _ in range(100):
        try:
            conn = sqlite3.connect(db_path, timeout=30)
            try:
                return conn.execute("select count(*) from live_bench_decision").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.OperationalError:
            time.sleep(0.05)
    raise RuntimeError("could not read the decision count")


# ---------------------------------------------------------------------------
# the clients
# ---------------------------------------------------------------------------

class Client:
    def __init__(self, idx, code, members):
        self.idx, self.code = idx, code
        self.others = [m for m in members if m != idx]
        self.sends = []  # send time of counter k at index k-1
        self.last_seen = {o: 0 for o in self.others}
        self.latency = []  # (send time, seconds) for each (value, this receiver)
        self.errors = []


async def send_poisson(c, ws, encode, rng, per_client, t_start, t_end):
    """Client ``c`` sends its values 1, 2, ... (``encode(c, k)``) with Poisson arrivals, recording each send time."""
    t = t_start + rng.expovariate(per_client)
    k = 0
    while t < t_end:
        delay = t - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        k += 1
        c.sends.append(time.time())
        await ws.send(encode(c, k))
        t += rng.expovariate(per_client)


async def mark(marks, name, at, server, rows_of, **extra):
    """At ``at``, the figures a window is measured between (server CPU, stored rows, machine load)."""
    await asyncio.sleep(max(0.0, at - time.time()))
    rows = await asyncio.get_running_loop().run_in_executor(None, rows_of, os.path.join(server.proj, "db.sqlite3"))
    marks[name] = {"cpu": server.cpu(), "rows": rows, "busy": machine_busy_seconds(), "t": time.time(),
                   "client_cpu": sum(os.times()[:2]), "load": loadavg(),
                   **{key: fn() for key, fn in extra.items()}}


async def run_clients(server, session_code, codes, group_size, rate_total, args, marks):
    import websockets

    n = len(codes)
    clients = [Client(i, c, range(i - i % group_size, i - i % group_size + group_size))
               for i, c in enumerate(codes)]
    by_idx = {c.idx: c for c in clients}
    ws_base = server.base.replace("http", "ws")
    socks = []
    for c in clients:
        q = urllib.parse.urlencode(dict(participant_code=c.code, page_name="Play", page_index=1,
                                        session_code=session_code))
        socks.append(await websockets.connect(ws_base + "/live?" + q, max_queue=None, ping_interval=None))

    async def reader(c, ws):
        try:
            async for raw in ws:
                now = time.time()
                payload = (json.loads(raw) or {}).get("live_method_payload") or {}
                for v in (payload.get("map") or {}).values():
                    if not isinstance(v, (int, float)) or v < VALUE_BASE:
                        continue
                    sidx, k = divmod(int(v), VALUE_BASE)
                    sidx -= 1
                    last = c.last_seen.get(sidx)
                    if last is None or k <= last:
                        continue
                    sender = by_idx[sidx]
                    for j in range(last + 1, k + 1):
                        t = sender.sends[j - 1]
                        c.latency.append((t, now - t))
                    c.last_seen[sidx] = k
        except Exception as exc:
            c.errors.append(repr(exc))

    per_client = rate_total / float(n)
    t_start = time.time() + 1.0
    t_measure = t_start + args.warmup
    t_end = t_measure + args.duration

    def encode(c, k):
        return json.dumps({"v": (c.idx + 1) * VALUE_BASE + k})

    readers = [asyncio.ensure_future(reader(c, ws)) for c, ws in zip(clients, socks)]
    master = random.Random(args.seed)
    jobs = [asyncio.ensure_future(mark(marks, "start", t_measure, server, stored_rows)),
            asyncio.ensure_future(mark(marks, "end", t_end, server, stored_rows))]
    jobs += [asyncio.ensure_future(send_poisson(c, ws, encode, random.Random(master.random()), per_client,
                                                t_start, t_end)) for c, ws in zip(clients, socks)]
    await asyncio.gather(*jobs)
    await asyncio.sleep(max(0.0, t_end + args.settle - time.time()))
    for ws in socks:
        try:
            await asyncio.wait_for(ws.close(), 2)
        except Exception:
            pass
    for r in readers:
        r.cancel()
    return clients, t_measure, t_end


def summarise(clients, t_measure, t_end, marks, rate_total, group_size):
    lat = sorted(d for c in clients for (t, d) in c.latency if t_measure <= t < t_end)
    expected = sum(1 for c in clients for t in c.sends if t_measure <= t < t_end) * (group_size - 1)
    undelivered = max(0, expected - len(lat))
    all_lat = lat + [math.inf] * undelivered
    rows = marks["end"]["rows"] - marks["start"]["rows"]
    window = marks["end"]["t"] - marks["start"]["t"]
    cpu = marks["end"]["cpu"] - marks["start"]["cpu"]

    def ms(x):
        return None if x is None else (None if math.isinf(x) else round(1000 * x, 1))

    return {
        "offered_per_s": rate_total,
        "achieved_per_s": round(rows / window, 1),
        "delivered_pct": round(100.0 * len(lat) / expected, 2) if expected else None,
        "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)),
        "p99_all_ms": ms(pct(all_lat, 99)), "max_ms": ms(lat[-1]) if lat else None,
        "server_cpu_ms_per_decision": round(1000 * cpu / rows, 2) if rows else None,
        "server_cpu_cores": round(cpu / window, 2),
        "client_cpu_cores": round((marks["end"]["client_cpu"] - marks["start"]["client_cpu"]) / window, 2),
        "machine_busy_cores": round((marks["end"]["busy"] - marks["start"]["busy"]) / window, 2),
        "loadavg_start": marks["start"]["load"], "loadavg_end": marks["end"]["load"],
        "client_errors": sum(len(c.errors) for c in clients),
        "first_client_error": next((c.errors[0] for c in clients if c.errors), None),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="40,80,120,160,400",
                   help="total decisions/s offered, one run each, ascending (default 40,80,120,160,400)")
    p.add_argument("--groups", type=int, default=20, help="number of groups (default 20, as loadgen.py)")
    p.add_argument("--group-size", type=int, default=2)
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds (default 20)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring (default 5)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after the load for late receipts (default 3)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary project (logs, database)")
    args = p.parse_args()
    rates = sorted(float(r) for r in args.rates.split(","))
    root = tempfile.mkdtemp(prefix="live_baseline-")
    proj = make_project(root, args.group_size)
    server = Server(proj)
    results = []
    try:
        import otree

        print("oTree %s, Python %s, %d groups of %d, Poisson arrivals, %gs warm-up, %gs measured, %gs settle"
              % (otree.__version__, sys.version.split()[0], args.groups, args.group_size,
                 args.warmup, args.duration, args.settle), flush=True)
        for rate in rates:
            server.wait_idle()
            session_code, codes = server.new_session(args.groups * args.group_size)
            marks = {}
            clients, t_measure, t_end = asyncio.run(
                run_clients(server, session_code, codes, args.group_size, rate, args, marks))
            r = summarise(clients, t_measure, t_end, marks, rate, args.group_size)
            results.append(r)
            print(json.dumps(r), flush=True)
    finally:
        server.stop()
        if args.keep:
            print("kept", root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    cpu = [r["server_cpu_ms_per_decision"] for r in results if r["server_cpu_ms_per_decision"]]
    capacity = max(r["achieved_per_s"] for r in results)
    print()
    print("%9s %9s %10s %8s %8s %11s %10s %9s" % ("offered/s", "achieved", "delivered%", "p50 ms", "p99 ms",
                                                    "p99(all)ms", "cpu ms/dec", "loadavg"))
    for r in results:
        print("%9.0f %9.1f %10s %8s %8s %11s %10s %9.2f" % (
            r["offered_per_s"], r["achieved_per_s"], r["delivered_pct"], r["p50_ms"], r["p99_ms"],
            r["p99_all_ms"] if r["p99_all_ms"] is not None else "inf", r["server_cpu_ms_per_decision"],
            r["loadavg_start"][0]))
    median_cpu = sorted(cpu)[len(cpu) // 2] if cpu else None
    print("capacity (highest achieved): %.1f decisions/s" % capacity)
    if median_cpu:
        print("server CPU per decision (median of runs): %.2f ms -> CPU bound %.0f decisions/s on one core"
              % (median_cpu, 1000.0 / median_cpu))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": results, "capacity_per_s": capacity, "median_cpu_ms": median_cpu,
                       "args": vars(args)}, f, indent=1)


if __name__ == "__main__":
    main()
