"""Garbage-collector tuning of a server process (``REDWOOD['GC_TUNING']``)."""
import gc

from . import conf

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

