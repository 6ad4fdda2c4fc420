"""Helpers kept from otree-redwood 0.9.x."""
from .engine import actions, timers

__all__ = ["DiscreteEventEmitter"]


class DiscreteEventEmitter:
    """Calls ``callback(current_interval, intervals)`` every ``interval`` seconds.

    ``intervals`` is ``period_length / interval``; ``current_interval`` counts
    from 0.  Nothing happens until :meth:`start` is called (as in 0.9.x); the
    first call comes ``interval`` seconds after it, or at once with
    ``start_immediate=True``.  Unlike 0.9.x, the ticks live in
    Redis (timers.py): any number of emitters per group, each tick fired once
    even with several server processes or after a restart, and each call made
    on a freshly loaded group.  ``callback`` should be a method of the group
    (``self.tick``), which survives a server restart; a plain function,
    lambda or closure works too (0.9.x apps use them), but runs only in the
    process that created the emitter.  All emitters of a group stop at its period end.
    """

    def __init__(self, interval, period_length, group, callback, start_immediate=False):
        self.interval = float(interval)
        self.period_length = float(period_length)
        self.group = group
        self.callback = callback
        self.start_immediate = start_immediate
        self.intervals = self.period_length / self.interval
        self.timer_id = None
        self._owner = None

    def start(self):
        """Schedule the ticks (once; a second call does nothing)."""
        if self.timer_id is None:
            self.timer_id, self._gk, self._owner = actions.schedule_emitter(
                self.group, self.interval, self.period_length, self.callback, self.start_immediate
            )
        return self.timer_id

    def stop(self):
        """Cancel the remaining ticks."""
        if self.timer_id is not None:
            timers.cancel_sync(self.timer_id, gk=self._gk, owner=self._owner)
