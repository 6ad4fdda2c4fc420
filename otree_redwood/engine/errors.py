"""The engine's exceptions, in one place."""
from .protocol import CLOSE_NOT_FOUND


class Refused(Exception):
    """A socket that may not connect, or a group that is not there: close ``code`` with ``reason``."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class GroupGone(Refused):
    """The group a timer or a request names no longer exists (its session was deleted)."""

    def __init__(self, gk):
        super().__init__(CLOSE_NOT_FOUND, "no group %s" % gk)
        self.gk = gk
