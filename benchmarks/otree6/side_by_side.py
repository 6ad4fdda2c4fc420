"""oTree 6: otree-redwood beside oTree 6's live pages, same load, same run (issue 16).

Two ``otree prodserver`` processes of two throwaway oTree 6 projects run side
by side: one with the live-pages app of live_baseline.py (every decision
stored as an ExtraModel row, the group's map updated, the map returned to
the group), one with a redwood ``DecisionGroup`` app (every decision stored
as an Event, the map kept in Redis, stored and broadcast with a seq).  For
each offered rate, the live-pages server is loaded, then the redwood one,
each on a fresh session, with the same clients, the same Poisson arrivals
and the same definitions (live_baseline.py, which follows
benchmarks/loadgen.py):

* latency: from X's send of a value to the first map a member Y receives
  that holds it or a newer value of X;
* delivered %: such pairs seen within ``--settle`` s after the load stops;
* achieved/s: decisions the server stored during the measured window (read
  from its database), and server CPU per stored decision (utime+stime of
  the server's process group over the window; the redwood server's Redis is
  counted separately);
* a rate passes, as in loadgen.py's capacity search, with >= 99.9 %
  delivered and p99 <= 100 ms; capacity is the highest offered rate that
  passes, beside the highest achieved rate (the ceiling once saturated).

Both servers use SQLite files on local disk (oTree 6's default); the redwood
one a throwaway redis-server.  Clients, servers and Redis share the
machine's cores: the load average and busy CPU of each run are printed.

Usage (the oTree 6 venv, scripts/setup_venv6.sh)::

    .venv6/bin/python benchmarks/otree6/side_by_side.py
    .venv6/bin/python benchmarks/otree6/side_by_side.py --rates 40,400,1000 --json out.json
"""
import argparse
import asyncio
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import live_baseline as lb  # noqa: E402  (same folder)

REDWOOD_APP = '''
from otree.api import *

from otree_redwood.otree6.bases import DecisionGroup


class C(BaseConstants):
    NAME_IN_URL = "rw_bench"
    PLAYERS_PER_GROUP = {group_size}
    NUM_ROUNDS = 1


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    pass


class Player(BasePlayer):
    pass


class Play(Page):
    pass


page_sequence = [Play]
'''

REDWOOD_TEMPLATE = '''{% extends "otree_redwood/Page.html" %}
{% block title %}Redwood bench{% endblock %}
{% block content %}<p>redwood</p>{% endblock %}
'''

REDWOOD_SETTINGS = lb.SETTINGS.replace('name="live_bench", app_sequence=["live_bench"]',
                                       'name="rw_bench", app_sequence=["rw_bench"]')


def make_redwood_project(root, group_size):
    return lb.make_project(root, group_size, app="rw_bench", source=REDWOOD_APP, template=REDWOOD_TEMPLATE,
                           settings=REDWOOD_SETTINGS)


def start_redis(workdir):
    port = lb.free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    import redis

    client = redis.Redis(port=port)
    deadline = time.time() + 60
    while True:
        try:
            client.ping()
            return proc, "redis://127.0.0.1:%d/0" % port
        except redis.ConnectionError:
            if time.time() > deadline or proc.poll() is not None:
                sys.exit("redis-server did not start")
            time.sleep(0.1)


class RedwoodServer(lb.Server):
    def new_session(self, n):
        code = self.post("/api/sessions", {"session_config_name": "rw_bench", "num_participants": n})["code"]
        codes = [p["code"] for p in self.post("/api/get_session/%s" % code, {})["participants"]]
        pages = []
        for c in codes:  # the page renders the participant's window.oTree (group, token)
            html = urllib.request.urlopen(self.base + "/InitializeParticipant/%s" % c, timeout=300).read().decode()
            m = re.search(r"window\.oTree = (\{.*?\});", html)
            if not m:
                sys.exit("no window.oTree in the redwood page")
            pages.append(json.loads(m.group(1)))
        return code, pages


def stored_redwood(db_path):
    for _ in range(100):
        try:
            conn = sqlite3.connect(db_path, timeout=30)
            try:
                return conn.execute("select count(*) from otree_redwood_event where channel = 'decisions'").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.OperationalError:
            time.sleep(0.05)
    raise RuntimeError("could not read the decision count")


async def run_redwood_clients(server, pages, group_size, rate_total, args, marks, redis_pid):
    import websockets

    n = len(pages)
    clients = [lb.Client(i, p["participantCode"], range(i - i % group_size, i - i % group_size + group_size))
               for i, p in enumerate(pages)]
    idx_of = {p["participantCode"]: i for i, p in enumerate(pages)}
    by_idx = {c.idx: c for c in clients}
    ws_base = server.base.replace("http", "ws")
    socks, started = [], []
    for p in pages:
        url = "%s/redwood/app-name/%s/group/%s/participant/%s/?token=%s" % (
            ws_base, p["appName"], p["group"]["pk"], p["participantCode"], p["socketToken"])
        socks.append(await websockets.connect(url, max_queue=None, ping_interval=None, open_timeout=300))
        started.append(asyncio.get_running_loop().create_future())

    async def reader(c, ws, ready):
        try:
            async for raw in ws:
                now = time.time()
                frame = json.loads(raw)
                if frame.get("channel") == "state" and frame.get("payload") == "period_start":
                    if not ready.done():
                        ready.set_result(now)
                    continue
                if frame.get("channel") != "group_decisions":
                    continue
                for code, v in (frame.get("payload") or {}).items():
                    if not isinstance(v, (int, float)) or v < lb.VALUE_BASE:
                        continue
                    sidx, k = divmod(int(v), lb.VALUE_BASE)
                    sidx -= 1
                    if idx_of.get(code) != sidx:
                        continue
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

    readers = [asyncio.ensure_future(reader(c, ws, f)) for c, ws, f in zip(clients, socks, started)]
    await asyncio.wait_for(asyncio.gather(*started), 300)  # every group's period has started

    per_client = rate_total / float(n)
    t_start = time.time() + 1.0
    t_measure = t_start + args.warmup
    t_end = t_measure + args.duration

    def encode(c, k):
        return json.dumps({"channel": "decisions", "payload": (c.idx + 1) * lb.VALUE_BASE + k})

    redis_cpu = {"redis_cpu": lambda: lb.group_cpu_seconds(redis_pid)}
    master = random.Random(args.seed)
    jobs = [asyncio.ensure_future(lb.mark(marks, "start", t_measure, server, stored_redwood, **redis_cpu)),
            asyncio.ensure_future(lb.mark(marks, "end", t_end, server, stored_redwood, **redis_cpu))]
    jobs += [asyncio.ensure_future(lb.send_poisson(c, ws, encode, random.Random(master.random()), per_client,
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


def passes(r):
    return (r["delivered_pct"] or 0) >= 99.9 and r["p99_ms"] is not None and r["p99_ms"] <= 100


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="40,400,800,1200,1600",
                   help="total decisions/s offered, ascending (default 40,400,800,1200,1600)")
    p.add_argument("--groups", type=int, default=20, help="number of groups (default 20, as loadgen.py)")
    p.add_argument("--group-size", type=int, default=2)
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds (default 20)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring (default 5)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after the load for late receipts (default 3)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--live-max", type=float, default=400,
                   help="highest rate offered to live pages (they saturate near 150/s; default 400)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary projects (logs, databases)")
    args = p.parse_args()
    rates = sorted(float(r) for r in args.rates.split(","))
    root = tempfile.mkdtemp(prefix="side_by_side-")
    live_root, rw_root = os.path.join(root, "live"), os.path.join(root, "redwood")
    os.makedirs(live_root)
    os.makedirs(rw_root)
    redis_proc, redis_url = start_redis(rw_root)
    os.environ["REDWOOD_REDIS_URL"] = redis_url  # read by the redwood server (the live one ignores it)
    live = redwood = None
    results = []
    try:
        live = lb.Server(lb.make_project(live_root, args.group_size))
        redwood = RedwoodServer(make_redwood_project(rw_root, args.group_size))
        import otree

        print("oTree %s, Python %s, %d groups of %d, Poisson arrivals, %gs warm-up, %gs measured, %gs settle"
              % (otree.__version__, sys.version.split()[0], args.groups, args.group_size,
                 args.warmup, args.duration, args.settle), flush=True)
        n = args.groups * args.group_size
        for rate in rates:
            if rate <= args.live_max:
                live.wait_idle()
                code, codes = live.new_session(n)
                marks = {}
                clients, t0, t1 = asyncio.run(lb.run_clients(live, code, codes, args.group_size, rate, args, marks))
                r = dict(lb.summarise(clients, t0, t1, marks, rate, args.group_size), tool="live pages")
                results.append(r)
                print(json.dumps(r), flush=True)
            redwood.wait_idle()
            code, pages = redwood.new_session(n)
            marks = {}
            clients, t0, t1 = asyncio.run(run_redwood_clients(redwood, pages, args.group_size, rate, args, marks,
                                                              redis_proc.pid))
            r = dict(lb.summarise(clients, t0, t1, marks, rate, args.group_size), tool="redwood")
            window = marks["end"]["t"] - marks["start"]["t"]
            rows = marks["end"]["rows"] - marks["start"]["rows"]
            redis_cpu = marks["end"]["redis_cpu"] - marks["start"]["redis_cpu"]
            r["redis_cpu_ms_per_decision"] = round(1000 * redis_cpu / rows, 3) if rows else None
            r["redis_cpu_cores"] = round(redis_cpu / window, 2)
            results.append(r)
            print(json.dumps(r), flush=True)
    finally:
        for server in (live, redwood):
            if server is not None:
                server.stop()
        redis_proc.terminate()
        redis_proc.wait(30)
        if args.keep:
            print("kept", root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print("%-10s %9s %9s %10s %8s %8s %10s %10s %8s" % ("tool", "offered/s", "achieved", "delivered%", "p50 ms",
                                                      "p99 ms", "cpu ms/dec", "pass", "loadavg"))
    for r in results:
        print("%-10s %9.0f %9.1f %10s %8s %8s %10s %10s %8.2f" % (
            r["tool"], r["offered_per_s"], r["achieved_per_s"], r["delivered_pct"], r["p50_ms"], r["p99_ms"],
            r["server_cpu_ms_per_decision"], "yes" if passes(r) else "no", r["loadavg_start"][0]))
    summary = {}
    for tool in ("live pages", "redwood"):
        mine = [r for r in results if r["tool"] == tool]
        if not mine:
            continue
        ok = [r["offered_per_s"] for r in mine if passes(r)]
        summary[tool] = {"capacity_passing_per_s": max(ok) if ok else None,
                         "highest_achieved_per_s": max(r["achieved_per_s"] for r in mine)}
        print("%s: capacity (highest passing rate) %s/s, highest achieved %.1f/s"
              % (tool, summary[tool]["capacity_passing_per_s"], summary[tool]["highest_achieved_per_s"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": results, "summary": summary, "args": vars(args)}, f, indent=1)


if __name__ == "__main__":
    main()
