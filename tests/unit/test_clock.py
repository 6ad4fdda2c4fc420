"""Milliseconds since the epoch, UTC, whatever the server's time zone (0.9.x used local time)."""
import datetime
import os
import time

from otree_redwood.engine import clock


def test_epoch_ms_is_utc_for_aware_naive_and_offset_datetimes():
    utc = datetime.datetime(2020, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
    assert clock.epoch_ms(utc) == 1577880000000.0
    assert clock.epoch_ms(utc.replace(tzinfo=None)) == 1577880000000.0  # naive means UTC
    plus2 = utc.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
    assert clock.epoch_ms(plus2) == 1577880000000.0
    assert clock.epoch_ms(None) is None
    assert clock.from_epoch_ms(1577880000000.5) == utc + datetime.timedelta(microseconds=500)


def test_the_server_time_zone_does_not_move_timestamps():
    old = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "America/Los_Angeles"
        time.tzset()
        when = datetime.datetime(2020, 7, 1, tzinfo=datetime.timezone.utc)
        assert clock.epoch_ms(when) == 1593561600000.0
        assert abs(clock.now_ms() - time.time() * 1000) < 600000  # same clock, not shifted by hours
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()
