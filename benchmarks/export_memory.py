"""Peak memory of the tidy events CSV export of one very large session.

Creates a temporary oTree database (SQLite, the example project), one
session, bulk-inserts N events for it (default 1,000,000) and streams the
CSV export (``exports.EventsCSV`` with ``?session=<code>``, the view behind
the admin's Data page) to nowhere, while a thread samples the process's
resident memory.  Prints the figures; ``--json`` adds one JSON line at the
end (used by tests/test_exports.py).

    .venv/bin/python benchmarks/export_memory.py                 # 1,000,000 events
    .venv/bin/python benchmarks/export_memory.py --events 200000 --json
    .venv/bin/python benchmarks/export_memory.py --control       # also: rows kept in a list

``--control`` also measures the same rows gathered in a list instead of
streamed, to show what the measurement reports when memory does grow.
``--tracemalloc`` adds a second streaming pass under tracemalloc (Python
allocations only; slower).
"""
import argparse
import datetime
import gc
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

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def hwm_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def reset_hwm():
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakSampler:
    """Samples the resident set size every ``interval`` seconds in a thread."""

    def __init__(self, interval=0.002):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def setup(tmp, n_events, n_groups):
    os.environ["REDWOOD_EMBEDDED_REDIS_DIR"] = os.path.join(tmp, "redis")
    from tests import harness

    harness.configure_django(os.path.join(tmp, "db.sqlite3"))
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)
    session = harness.create_session("benchmark", n_groups * 2)
    groups = harness.group_members(session, "decision_demo")
    insert_events(groups, n_events)
    return session


def insert_events(groups, n_events, chunk=50000):
    """N events spread over the groups: a period of decisions and maps."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from otree.models import Participant

    from otree_redwood.groups import get_group_model
    from otree_redwood.models import Event

    ct = ContentType.objects.get_for_model(get_group_model("decision_demo"))
    pid = dict(Participant.objects.values_list("code", "id"))
    table = Event._meta.db_table
    sql = (
        'INSERT INTO "%s" (timestamp, content_type_id, group_pk, channel, participant_id, value, seq, recipient_id) '
        "VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s)" % table
    )
    t0 = datetime.datetime(2024, 1, 1, 12, 0, 0)
    per_group = n_events // len(groups)
    rows = []
    done = 0

    def flush():
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(sql, rows)
        rows.clear()

    for gi, (group_pk, codes) in enumerate(groups):
        count = per_group + (n_events - per_group * len(groups) if gi == len(groups) - 1 else 0)
        decisions = {c: 0.5 for c in codes}
        seq = 0
        for k in range(count):
            ts = (t0 + datetime.timedelta(milliseconds=10 * k + gi)).strftime("%Y-%m-%d %H:%M:%S.%f")
            if k == 0 or k == count - 1:
                seq += 1
                state = "period_start" if k == 0 else "period_end"
                rows.append((ts, ct.id, group_pk, "state", None, json.dumps(state), seq, None))
            elif k % 2:
                code = codes[(k // 2) % len(codes)]
                decisions[code] = round((k % 997) / 997.0, 4)
                rows.append((ts, ct.id, group_pk, "decisions", pid[code], json.dumps(decisions[code]), None, None))
            else:
                seq += 1
                rows.append((ts, ct.id, group_pk, "group_decisions", None, json.dumps(decisions), seq, None))
            done += 1
            if len(rows) >= chunk:
                flush()
    if rows:
        flush()
    return done


def stream_export(session_code):
    from django.test import RequestFactory

    from otree_redwood.exports import EventsCSV

    request = RequestFactory().get("/redwood/export/events/", {"session": session_code})
    response = EventsCSV.as_view()(request)
    assert response.streaming, "the export must be a streaming response"
    n_bytes = 0
    n_lines = 0
    for piece in response.streaming_content:
        n_bytes += len(piece)
        n_lines += piece.count(b"\n")
    return n_bytes, n_lines


def measure(fn):
    from django.db import connection

    connection.close()
    gc.collect()
    baseline = rss_bytes()
    hwm_ok = reset_hwm()
    t = time.perf_counter()
    with PeakSampler() as sampler:
        result = fn()
    seconds = time.perf_counter() - t
    peak = max(sampler.peak, hwm_bytes() if hwm_ok else 0)
    return result, {
        "baseline_mb": round(baseline / 2**20, 1),
        "peak_mb": round(peak / 2**20, 1),
        "growth_mb": round((peak - baseline) / 2**20, 1),
        "seconds": round(seconds, 2),
        "kernel_peak_used": hwm_ok,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000000)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--control", action="store_true", help="also measure the rows kept in a list")
    parser.add_argument("--tracemalloc", action="store_true", help="also measure Python allocations")
    parser.add_argument("--json", action="store_true", help="print a JSON line with the results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="redwood-export-bench-")
    try:
        t = time.perf_counter()
        session = setup(tmp, args.events, args.groups)
        print("inserted %d events for session %s in %.1f s (db %s)" % (
            args.events, session.code, time.perf_counter() - t, os.path.join(tmp, "db.sqlite3")))
        (n_bytes, n_lines), stats = measure(lambda: stream_export(session.code))
        out = {"events": args.events, "csv_rows": n_lines - 1, "csv_mb": round(n_bytes / 2**20, 1), "stream": stats}
        print("streamed %d rows (%.1f MB of CSV) in %.1f s (%.0f rows/s)" % (
            n_lines - 1, n_bytes / 2**20, stats["seconds"], (n_lines - 1) / max(stats["seconds"], 1e-9)))
        print("  resident memory: baseline %.1f MB, peak %.1f MB, growth %.1f MB" % (
            stats["baseline_mb"], stats["peak_mb"], stats["growth_mb"]))
        if args.tracemalloc:
            import tracemalloc

            tracemalloc.start()
            stream_export(session.code)
            _cur, py_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            out["tracemalloc_peak_mb"] = round(py_peak / 2**20, 1)
            print("  Python allocations (tracemalloc): peak %.1f MB" % (py_peak / 2**20))
        if args.control:
            from otree_redwood.exports import iter_event_rows

            (kept,), control = measure(lambda: (list(iter_event_rows(session.code)),))
            out["control_list"] = control
            print("control, the same rows kept in a list: growth %.1f MB (%d rows)" % (control["growth_mb"], len(kept)))
            del kept
        if args.json:
            print(json.dumps(out))
        return out
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
