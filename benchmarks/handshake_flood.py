"""Handshakes: a flood of bad tokens, and a lab of 1,000 starting at once (issue 13, point 4).

Runs against a real ``otree prodserver`` of the example project, a throwaway
redis-server and a fresh SQLite file (WAL), with real WebSocket clients
(asyncio + ``websockets``) in separate processes; nothing is mocked.

(a) **Flood.**  A group of 2 (``benchmark`` session, no period end) is in
    session; its first member sends a decision every ``1/--rate`` s and
    times the round trip (send -> the map showing that value comes back to
    it).  First ``--quiet`` seconds without other traffic, then while
    ``--floods`` floods of ``--flood-n`` handshakes with bad tokens run
    (``--flood-concurrency`` at a time, started at ``--flood-rate`` per
    second, 100 by default as in the issue, 0 for as fast as they go; from
    another process, each to the same group and participant with a wrong
    token; each must be refused with close code 4003).  Target: flood p99
    within 2x of the quiet p99.
(b) **Lab start.**  ``--lab`` participants (groups of 2, a second session)
    open their sockets at the same instant from ``--client-procs``
    processes; each waits for its ``state`` frame (``period_start``, sent
    once both members of its group are connected).  Reported: the time from
    the start until the last participant got it (target: within 2 s), and
    the distribution.

Usage (from the repository root)::

    .venv/bin/python benchmarks/handshake_flood.py
    .venv/bin/python benchmarks/handshake_flood.py --only a --floods 5
    .venv/bin/python benchmarks/handshake_flood.py --only b --lab 1000 --json out.json
    .venv/bin/python benchmarks/handshake_flood.py --only b --servers 2     # two processes behind nginx
    .venv/bin/python benchmarks/handshake_flood.py --only b --profile 12    # + py-spy of the server (GIL)
    .venv/bin/python benchmarks/handshake_flood.py --only b --client raw --pin   # lighter clients, server on core 0

(b) also reports the clients' CPU and the connections the kernel dropped
because the server's listen queue was full (``TcpExt ListenOverflows``, for
the whole machine): each of those waits a second or more for its retry.

Prints the figures; ``--json FILE`` writes them too.
"""
import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.loadgen import (  # noqa: E402  (needs ROOT on sys.path)
    configure_django, group_pids, machine_busy_seconds, pct, proc_cpu_seconds, raise_fd_limit, summarize_profile, tree_cpu,
    wait_servers_settled,
)

APP = "decision_demo"


# ---------------------------------------------------------------- (a) flood

def _flood_entry(url, n, concurrency, rate, conn):
    """Child process: ``n`` handshakes with a bad token, ``concurrency`` at a time.

    With ``rate``, handshake i starts no earlier than i / rate seconds in
    (and only when one of the ``concurrency`` slots is free).
    """
    import websockets

    async def one(i, t0, sem, out):
        if rate:
            await asyncio.sleep(max(0.0, t0 + i / rate - time.time()))
        async with sem:
            t = time.time()
            try:
                async with websockets.connect(url, open_timeout=30, close_timeout=5) as ws:
                    try:
                        async for _ in ws:
                            pass
                    except websockets.ConnectionClosed:
                        pass
                    out["codes"].append(ws.close_code)
            except Exception as exc:
                out["errors"].append(repr(exc)[:120])
            out["times"].append(time.time() - t)

    async def main():
        sem = asyncio.Semaphore(concurrency)
        out = {"codes": [], "errors": [], "times": []}
        t0 = time.time()
        await asyncio.gather(*[one(i, t0, sem, out) for i in range(n)])
        out["t0"], out["t1"] = t0, time.time()
        return out

    raise_fd_limit(4096)
    # forked from a process whose loop is running: a loop of its own
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        conn.send(loop.run_until_complete(main()))
    except Exception as exc:
        conn.send({"codes": [], "errors": ["flood worker: %r" % (exc,)], "times": [], "t0": 0, "t1": 0})


async def _round_trips(ws, code, rate, stop, samples, counter):
    """Send a decision every 1/rate s; time until the map showing it comes back."""
    waiting = {}

    async def reader():
        async for text in ws:
            msg = json.loads(text)
            if msg.get("channel") != "group_decisions":
                continue
            v = msg["payload"].get(code)
            t = waiting.pop(v, None)
            if t is not None:
                samples.append((t, time.time() - t))

    task = asyncio.ensure_future(reader())
    t_next = time.time()
    while not stop():
        counter[0] += 1
        value = counter[0]
        waiting[value] = time.time()
        await ws.send(json.dumps({"channel": "decisions", "payload": value}))
        t_next += 1.0 / rate
        await asyncio.sleep(max(0.0, t_next - time.time()))
    await asyncio.sleep(0.5)  # the last answers
    task.cancel()
    return len(waiting)


def _summ(samples):
    ms = sorted(s * 1000.0 for _, s in samples)
    return {"n": len(ms), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99), "max_ms": ms[-1] if ms else None}


def _ours(srv, redis_pid, extra_pids=()):
    """CPU seconds of the server tree, Redis, this process and ``extra_pids``."""
    return (sum(tree_cpu(srv.proc.pid).values()) + proc_cpu_seconds(redis_pid) + proc_cpu_seconds(os.getpid())
            + sum(proc_cpu_seconds(p) for p in extra_pids))


def _start_profile(srv, seconds, path):
    """py-spy (GIL samples) of the server for ``seconds``, written to ``path``."""
    import subprocess

    from tests import harness

    return subprocess.Popen(
        [os.path.join(harness.BIN, "py-spy"), "record", "-p", str(srv.proc.pid), "-d", str(int(seconds)),
         "-r", "200", "--gil", "--nonblocking", "--format", "raw", "-o", path],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def part_a(srv, members, args, redis_pid, tmp):
    import websockets

    from tests import harness

    (gpk, (a, b)), = members
    wa = await websockets.connect(srv.ws_base + harness.socket_path(APP, gpk, a), max_queue=None)
    wb = await websockets.connect(srv.ws_base + harness.socket_path(APP, gpk, b), max_queue=None)
    drain_b = asyncio.ensure_future(_drain(wb))
    # wait for the group's first map
    while True:
        msg = json.loads(await wa.recv())
        if msg.get("channel") == "group_decisions" and len(msg["payload"]) == 2:
            break
    counter = [0]
    quiet = []
    t_q0, busy_q0, cpu_q0 = time.time(), machine_busy_seconds(), sum(tree_cpu(srv.proc.pid).values())
    ours_q0 = _ours(srv, redis_pid)
    t_end = time.time() + args.quiet
    lost = await _round_trips(wa, a, args.rate, lambda: time.time() > t_end, quiet, counter)
    t_q1, busy_q1, cpu_q1 = time.time(), machine_busy_seconds(), sum(tree_cpu(srv.proc.pid).values())
    ours_q1 = _ours(srv, redis_pid)
    bad_url = srv.ws_base + "/redwood/app-name/%s/group/%s/participant/%s/?token=%s" % (APP, gpk, a, "x" * 27)
    floods = []
    during = []
    ctx = multiprocessing.get_context("fork")
    profile_proc = None
    if args.profile:
        # the server during the first flood
        profile_proc = _start_profile(srv, args.profile, os.path.join(tmp, "pyspy-a.txt"))
    for _ in range(args.floods):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_flood_entry,
                           args=(bad_url, args.flood_n, args.flood_concurrency, args.flood_rate, child),
                           daemon=True)
        samples = []
        cpu0 = sum(tree_cpu(srv.proc.pid).values())
        busy0, t0 = machine_busy_seconds(), time.time()
        ours0 = _ours(srv, redis_pid)
        proc.start()
        lost += await _round_trips(wa, a, args.rate, lambda: not proc.is_alive() or parent.poll(), samples, counter)
        out = parent.recv()
        cpu1 = sum(tree_cpu(srv.proc.pid).values())
        busy1, t1 = machine_busy_seconds(), time.time()
        ours1 = _ours(srv, redis_pid, [proc.pid])  # the flood client too (not reaped yet)
        proc.join()
        # only the round trips that started while the flood ran
        inside = [s for s in samples if out["t0"] <= s[0] <= out["t1"]]
        during.extend(inside)
        codes = out["codes"]
        floods.append({
            "handshakes": len(codes) + len(out["errors"]),
            "refused_4003": sum(1 for c in codes if c == 4003),
            "other_outcomes": len(codes) - sum(1 for c in codes if c == 4003) + len(out["errors"]),
            "errors": out["errors"][:3],
            "seconds": out["t1"] - out["t0"],
            "per_s": len(codes) / max(1e-9, out["t1"] - out["t0"]),
            "handshake_p50_ms": pct(sorted(t * 1000 for t in out["times"]), 50),
            "handshake_p99_ms": pct(sorted(t * 1000 for t in out["times"]), 99),
            "server_cpu_ms_per_handshake": (cpu1 - cpu0) * 1000.0 / max(1, len(codes)),
            "server_cores": (cpu1 - cpu0) / max(1e-9, t1 - t0),
            "machine_busy_cores": (busy1 - busy0) / max(1e-9, t1 - t0),
            "other_programs_cores": max(0.0, (busy1 - busy0) - (ours1 - ours0)) / max(1e-9, t1 - t0),
            "round_trips": _summ(inside),
        })
    drain_b.cancel()
    await wa.close()
    await wb.close()
    q, f = _summ(quiet), _summ(during)
    profile = None
    if profile_proc is not None:
        _, err = profile_proc.communicate(timeout=args.profile + 30)
        profile = summarize_profile(os.path.join(tmp, "pyspy-a.txt"), err)
    return {
        "profile": profile,
        "quiet": q, "flood": f, "floods": floods, "unanswered": lost,
        "quiet_server_cores": (cpu_q1 - cpu_q0) / (t_q1 - t_q0),
        "quiet_machine_busy_cores": (busy_q1 - busy_q0) / (t_q1 - t_q0),
        "quiet_other_programs_cores": max(0.0, (busy_q1 - busy_q0) - (ours_q1 - ours_q0)) / (t_q1 - t_q0),
        "p99_ratio": (f["p99_ms"] / q["p99_ms"]) if q["p99_ms"] and f["p99_ms"] else None,
    }


async def _drain(ws):
    try:
        async for _ in ws:
            pass
    except Exception:
        pass


# ---------------------------------------------------------------- (b) lab start

def _lab_entry(urls, t_go, conn, client="websockets", cpus=None):
    """Child process: open every socket at ``t_go``; note when each gets ``state``.

    ``client``: "websockets" (the library) or "raw" (benchmarks/rawws.py,
    a fraction of the CPU per socket).  Sends {"results", "cpu_s"}.
    """
    import websockets

    from benchmarks import rawws

    if cpus:
        os.sched_setaffinity(0, cpus)

    async def open_ws(url):
        if client == "raw":
            return await asyncio.wait_for(rawws.connect(url), 60)
        return await websockets.connect(url, open_timeout=60, max_queue=None, ping_interval=None)

    async def one(url, out):
        t_open = None
        try:
            ws = await open_ws(url)
            t_open = time.time()
            while True:
                text = await ws.recv()
                msg = json.loads(text)
                if msg.get("channel") == "state":
                    out.append((t_open, time.time()))
                    break
                if msg.get("channel") == "error":
                    out.append((t_open, None, text[:200]))
                    break
            return ws
        except Exception as exc:
            out.append((t_open, None, repr(exc)[:200]))
            return None

    async def main():
        await asyncio.sleep(max(0.0, t_go - time.time()))
        cpu0 = time.process_time()
        out = []
        socks = await asyncio.wait_for(asyncio.gather(*[one(u, out) for u in urls]), 120)
        conn.send({"results": out, "cpu_s": time.process_time() - cpu0})
        await asyncio.sleep(0.5)
        for ws in socks:
            if ws is not None:
                await ws.close()

    raise_fd_limit(len(urls) * 2 + 1000)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main())
    except Exception as exc:
        conn.send({"results": [(None, None, "worker: %r" % (exc,))], "cpu_s": None})


def listen_overflows():
    """The kernel's count of connections dropped because a listen queue was full (TcpExt ListenOverflows)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split()[1:], values.split()[1:])).get("ListenOverflows", 0))
    return 0


def pin_tree(pid, cpus):
    """Every thread of ``pid``, and of its process group if it leads one, on these CPUs."""
    pids = group_pids(pid) if os.getpgid(pid) == pid else [pid]
    for p in pids or [pid]:
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass


def part_b(servers, base, members, args, redis_pid, tmp):
    from tests import harness

    srv = servers[0]
    urls = [base + harness.socket_path(APP, gpk, code) for gpk, codes in members for code in codes]
    # members of one group in different client processes, as in a lab
    shares = [urls[i::args.client_procs] for i in range(args.client_procs)]
    ctx = multiprocessing.get_context("fork")
    t_go = time.time() + 1.5
    procs, conns = [], []
    client_cpus = None
    if args.pin:
        # the server on core 0, everything else of the benchmark on the others
        # (a lab's browsers do not share the server's CPU)
        client_cpus = set(range(1, os.cpu_count() or 2)) or None
        for s in servers:
            pin_tree(s.proc.pid, {0})
        pin_tree(redis_pid, client_cpus)
    for share in shares:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_lab_entry, args=(share, t_go, child, args.client, client_cpus), daemon=True)
        p.start()
        procs.append(p)
        conns.append(parent)
    profile_proc = profile_out = None
    if args.profile:
        # the server's GIL holders from just before the start to --profile s after it
        profile_out = os.path.join(tmp, "pyspy.txt")
        profile_proc = _start_profile(srv, args.profile, profile_out)
    extra = [p.pid for p in procs] + [s.proc.pid for s in servers[1:]]
    cpu0 = sum(sum(tree_cpu(s.proc.pid).values()) for s in servers)
    busy0 = machine_busy_seconds()
    ours0 = _ours(srv, redis_pid, extra)
    overflows0 = listen_overflows()
    results, client_cpu = [], 0.0
    for c in conns:
        got = c.recv()
        results.extend(got["results"])
        client_cpu += got["cpu_s"] or 0.0
    cpu1 = sum(sum(tree_cpu(s.proc.pid).values()) for s in servers)
    busy1 = machine_busy_seconds()
    ours1 = _ours(srv, redis_pid, extra)
    overflows = listen_overflows() - overflows0
    for p in procs:
        p.join(30)
    profile = None
    if profile_proc is not None:
        _, err = profile_proc.communicate(timeout=args.profile + 30)
        profile = summarize_profile(profile_out, err)
    got = sorted(r[1] - t_go for r in results if r[1] is not None)
    opened = sorted(r[0] - t_go for r in results if r[0] is not None)
    failed = [r[2] for r in results if r[1] is None]
    return {
        "participants": len(urls),
        "got_state": len(got),
        "failed": len(failed),
        "failures": failed[:5],
        "last_state_s": got[-1] if got else None,
        "state_p50_s": pct(got, 50),
        "state_p99_s": pct(got, 99),
        "last_open_s": opened[-1] if opened else None,
        "open_p50_s": pct(opened, 50),
        "server_cpu_s": cpu1 - cpu0,
        "client_cpu_s": client_cpu,
        "listen_overflows": overflows,
        "machine_busy_s": busy1 - busy0,
        "other_programs_s": max(0.0, (busy1 - busy0) - (ours1 - ours0)),
        "profile": profile,
    }


# ---------------------------------------------------------------- main

def run(args):
    from tests import harness

    raise_fd_limit(max(4096, args.lab * 2 + 1000))
    tmp = tempfile.mkdtemp(prefix="redwood-handshake-")
    db_path = os.path.join(tmp, "db.sqlite3")
    redis_server = harness.RedisServer()
    os.environ["REDWOOD_REDIS_URL"] = redis_server.url(0)
    srv = proxy = None
    servers = []
    out = {"args": vars(args)}
    try:
        configure_django(None, db_path)
        small = big = None
        if "a" in args.only:
            small = harness.group_members(harness.create_session("benchmark", 2, group_size=2), APP)
        if "b" in args.only:
            big = harness.group_members(harness.create_session("benchmark", args.lab, group_size=2), APP)
        from django.db import connections

        connections.close_all()
        for i in range(args.servers):
            servers.append(harness.ServerProcess(db_path, redis_server.url(0), extra_env={"OTREE_PRODUCTION": "1"},
                                                 log_path=os.path.join(tmp, "server%d.log" % i)).start())
        srv = servers[0]
        base = srv.ws_base
        if args.servers > 1:
            from tests import pgnginx

            proxy = pgnginx.NginxProxy([s.port for s in servers])
            base = proxy.ws_base
        wait_servers_settled(servers)
        if small is not None:
            out["a"] = asyncio.get_event_loop().run_until_complete(part_a(srv, small, args, redis_server.proc.pid, tmp))
        if big is not None:
            out["b"] = part_b(servers, base, big, args, redis_server.proc.pid, tmp)
        out["server_tracebacks"] = sum(s.read_log().count("Traceback") for s in servers)
    finally:
        if proxy is not None:
            proxy.stop()
        for s in servers:
            s.kill()
        redis_server.stop()
        if args.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _print_profile(prof):
    if prof:
        print("    py-spy --gil (%s samples) self: %s" % (prof.get("samples"), prof.get("self", prof)))
        print("    py-spy inclusive: %s" % (prof.get("inclusive", [])[:40],))


def fmt(v, nd=1):
    return "-" if v is None else ("%.*f" % (nd, v))


def report(out):
    a = out.get("a")
    if a:
        q, f = a["quiet"], a["flood"]
        print("(a) decision round trip of a group in session (%.0f/s), quiet vs during floods of bad-token "
              "handshakes (%d at a time, paced at %s/s)" % (out["args"]["rate"], out["args"]["flood_concurrency"],
                                                           out["args"]["flood_rate"] or "unpaced"))
        print("    quiet : n=%d  p50 %s ms  p99 %s ms  max %s ms   (server %.2f cores, machine busy %.2f of 2 cores, "
              "other programs %.2f)" % (q["n"], fmt(q["p50_ms"]), fmt(q["p99_ms"]), fmt(q["max_ms"]),
                                        a["quiet_server_cores"], a["quiet_machine_busy_cores"],
                                        a["quiet_other_programs_cores"]))
        print("    flood : n=%d  p50 %s ms  p99 %s ms  max %s ms   p99 ratio %s (target <= 2)" % (
            f["n"], fmt(f["p50_ms"]), fmt(f["p99_ms"]), fmt(f["max_ms"]), fmt(a["p99_ratio"], 2)))
        _print_profile(a.get("profile"))
        for i, fl in enumerate(a["floods"], 1):
            print("    flood %d: %d handshakes in %.2f s (%.0f/s), %d refused with 4003, %d other; handshake "
                  "p50 %s ms p99 %s ms; server %.2f cores, machine busy %.2f, other programs %.2f; round trips p50 %s p99 %s ms"
                  % (i, fl["handshakes"], fl["seconds"], fl["per_s"], fl["refused_4003"], fl["other_outcomes"],
                     fmt(fl["handshake_p50_ms"]), fmt(fl["handshake_p99_ms"]), fl["server_cores"],
                     fl["machine_busy_cores"], fl["other_programs_cores"], fmt(fl["round_trips"]["p50_ms"]),
                     fmt(fl["round_trips"]["p99_ms"])))
        print("    decisions without an answer: %d" % a["unanswered"])
    b = out.get("b")
    if b:
        n = out["args"].get("servers", 1)
        print("(b) %d participants connecting at once (groups of 2), %d server process%s: %d got state, %d failed" % (
            b["participants"], n, "es behind nginx" if n > 1 else "", b["got_state"], b["failed"]))
        print("    state received: p50 %s s  p99 %s s  last %s s (target <= 2 s); sockets open: p50 %s s, last %s s"
              % (fmt(b["state_p50_s"], 2), fmt(b["state_p99_s"], 2), fmt(b["last_state_s"], 2),
                 fmt(b["open_p50_s"], 2), fmt(b["last_open_s"], 2)))
        print("    clients: %s%s; server CPU (all processes) %.2f s, clients' CPU %.2f s, machine busy %.2f CPU-s, "
              "of which other programs %.2f CPU-s" % (
                  out["args"].get("client", "websockets"), ", server pinned to core 0" if out["args"].get("pin") else "",
                  b["server_cpu_s"], b.get("client_cpu_s", 0.0), b["machine_busy_s"], b["other_programs_s"]))
        print("    connections dropped by a full listen queue (the machine's TcpExt ListenOverflows; each waits "
              "for the client's retry, 1 s or more): %d" % b.get("listen_overflows", 0))
        for f in b["failures"]:
            print("    failure:", f)
        _print_profile(b.get("profile"))
    print("server log tracebacks: %d" % out.get("server_tracebacks", 0))


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default="ab", help="parts to run: a, b or ab")
    p.add_argument("--rate", type=float, default=50.0, help="(a) decisions/s of the measuring member")
    p.add_argument("--quiet", type=float, default=10.0, help="(a) seconds measured without a flood")
    p.add_argument("--floods", type=int, default=3, help="(a) number of floods")
    p.add_argument("--flood-n", type=int, default=500, help="(a) handshakes per flood")
    p.add_argument("--flood-concurrency", type=int, default=50, help="(a) handshakes at a time")
    p.add_argument("--flood-rate", type=float, default=100.0,
                   help="(a) handshakes started per second (the issue's flood: ~100/s); 0: as fast as they go")
    p.add_argument("--lab", type=int, default=1000, help="(b) participants (groups of 2)")
    p.add_argument("--client-procs", type=int, default=2, help="(b) client processes")
    p.add_argument("--client", choices=("websockets", "raw"), default="websockets",
                   help="(b) the clients' WebSocket code: the websockets library, or benchmarks/rawws.py "
                        "(the least the protocol asks for: less of the machine taken from the server)")
    p.add_argument("--pin", action="store_true",
                   help="(b) the server process(es) on core 0, the clients and Redis on the other cores")
    p.add_argument("--servers", type=int, default=1,
                   help="(b) server processes, behind nginx when more than one ((a) uses the first)")
    p.add_argument("--profile", type=float, default=0,
                   help="py-spy the server (GIL samples) for this many seconds: (a) from the first flood, "
                        "(b) from the start")
    p.add_argument("--json", help="write the figures to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (server log, database)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    out = run(args)
    report(out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
