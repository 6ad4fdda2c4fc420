"""Starting a period without the members who never connected (public API).

``START_WITHOUT_ABSENT_AFTER`` (docs/configuration.rst) starts a group's
period that long after its first member connected; the live monitor's *Start
now* and an experimenter's own code order it at once with ``request_start``.
The policy lives in ``otree_redwood.engine.absent``, the start itself in
``otree_redwood.engine.actions``.
"""
from .engine.absent import request_start, wait_seconds
from .engine.actions import start_without_absent

__all__ = ["wait_seconds", "request_start", "start_without_absent"]
