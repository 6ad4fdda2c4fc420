"""Time on the wire and in the event log: milliseconds since the Unix epoch, UTC.

0.9.x computed ``Event.message["timestamp"]`` with ``mktime`` (local time);
every timestamp here is true UTC.  No Django, no Redis: the bottom layer.
"""
import datetime
import time

__all__ = ["now_ms", "epoch_ms", "from_epoch_ms"]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def now_ms():
    """The server's clock in milliseconds since the epoch."""
    return time.time() * 1000.0


def epoch_ms(dt):
    """Milliseconds since the epoch of an aware or naive-UTC datetime (None stays None)."""
    if dt is None:
        return None
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return (dt - _EPOCH).total_seconds() * 1000.0


def from_epoch_ms(ms):
    """The aware UTC datetime of a number of milliseconds since the epoch."""
    return _EPOCH + datetime.timedelta(milliseconds=ms)
