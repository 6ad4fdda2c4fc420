"""Timing helpers kept from 0.9.x (``track``, ``update``, ``items``).

0.9.x measured how long parts of its consumer took and showed the means on
its debug page; some experiments import ``track`` to time their own
handlers.  The figures are kept per process, in memory (0.9.x kept them in
a mock Redis, also per process).
"""
import threading
import time

__all__ = ["track", "update", "items", "reset"]

_lock = threading.Lock()
_totals = {}  # context -> [sum of values, count]


class track:
    """``with track('my handler'):`` adds the block's duration (seconds) to ``context``."""

    def __init__(self, context):
        self.context = context
        self.start = None

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb):
        update(self.context, time.perf_counter() - self.start)
        return False


def update(context, value):
    """Add one observation ``value`` to ``context``."""
    with _lock:
        entry = _totals.setdefault(context, [0.0, 0])
        entry[0] += float(value)
        entry[1] += 1


def items():
    """``{context: {"mean": ..., "count": ...}}`` of this process."""
    with _lock:
        return {ctx: {"mean": total / count, "count": count} for ctx, (total, count) in _totals.items() if count}


def reset():
    with _lock:
        _totals.clear()
