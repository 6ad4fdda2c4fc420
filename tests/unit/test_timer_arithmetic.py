"""What the scheduler reads back from its claim script (no Redis needed)."""
import json

from otree_redwood.engine import timers


def test_claim_reply_gives_ticks_and_next_due_time():
    flat = [b"1500.000",
            b"pe:app:1", b"period_end", b"app:1", b"0", b"1", b"1000.0", b"",
            b"em:app:2:x", b"emitter", b"app:2", b"3", b"5", b"1300.5", json.dumps({"method": "tick"}).encode()]
    ticks, next_due = timers.parse_claim_reply(flat)
    assert next_due == 1500.0
    assert [(t.id, t.kind, t.gk, t.k, t.n, t.due_ms) for t in ticks] == [
        ("pe:app:1", "period_end", "app:1", 0, 1, 1000.0),
        ("em:app:2:x", "emitter", "app:2", 3, 5, 1300.5),
    ]
    assert ticks[0].data is None and ticks[1].data == {"method": "tick"}


def test_claim_reply_with_nothing_due_and_nothing_left():
    assert timers.parse_claim_reply([b""]) == ([], None)
