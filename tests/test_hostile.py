"""Hostile and faulty input: strict JSON on the wire, one bad message hurts no one else.

In process through oTree's ASGI app (the ``ws`` fixture), and against a real
``otree prodserver`` where the isolation of one participant's flood matters.
Faults are real: a SQLite trigger that refuses some rows, a Redis key of the
wrong type; nothing of the system under test is replaced.
"""
import asyncio
import json
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async

from tests import harness
from tests.test_admin import _admin_socket, _next as admin_next
from tests.test_consumer import APP, events_of, expect_error, started_pair
from tests.wsclient import Client


def db(fn):
    return sync_to_async(fn, thread_sensitive=True)


def strict_loads(text):
    """JSON.parse's rules: NaN and Infinity are not JSON."""
    def refuse(name):
        raise ValueError("not strict JSON: %s" % name)

    return json.loads(text, parse_constant=refuse)


def nested(depth, leaf=1):
    return "[" * depth + json.dumps(leaf) + "]" * depth


NOT_STRICT = [
    ('{"channel": "decisions", "payload": NaN}', "NaN"),
    ('{"channel": "decisions", "payload": Infinity}', "Infinity"),
    ('{"channel": "decisions", "payload": -Infinity}', "-Infinity"),
    ('{"channel": "decisions", "payload": 1e400}', "out of range"),
    ('{"channel": "decisions", "payload": -1e400}', "out of range"),
    ('{"channel": "decisions", "payload": %s}' % ("9" * 400), "out of range"),
    ('{"channel": "notes", "payload": {"x": [1, NaN]}}', "NaN"),
    ('{"channel": "notes", "payload": "\\ud800"}', "lone surrogate"),
    ('{"channel": "notes", "payload": {"\\udfff": 1}}', "lone surrogate"),
    ('{"channel": "notes", "payload": "a\\udc00b\\ud83d"}', "lone surrogate"),
    ('{"channel": "notes", "payload": %s}' % nested(1000), "nested too deep"),
    ('{"channel": "notes", "payload": %s}' % nested(64), "nested too deep"),
    ('{"channel": "decisions"}', "'payload' is missing"),
    ('{"channel": "notes", "value": 3}', "'payload' is missing"),
    ('{"channel": "ping", "timestamp": NaN}', "NaN"),
    ('{"channel": "ping", "timestamp": "soon"}', "'timestamp' must be a number"),
    ('{"channel": "ping", "timestamp": 5, "avg_ping_time": true}', "'avg_ping_time' must be a number"),
    ('{"channel": "ping", "timestamp": 5, "avgping_time": [1]}', "'avgping_time' must be a number"),
    ('{"channel": "ping", "timestamp": 5, "avg_ping_time": 1e999}', "out of range"),
]


@pytest.mark.parametrize("raw, reason", NOT_STRICT, ids=[r for _, r in NOT_STRICT])
async def test_not_strict_json_refused_with_its_own_error(make_session, ws, raw, reason):
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    before = len(await db(lambda: events_of(gpk))())
    await ca.send_raw(raw)
    await expect_error(ca, reason)
    # the socket stays open and usable, the partner saw nothing, nothing was stored
    await ca.send("decisions", 0.25)
    for c in (ca, cb):
        await c.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == 0.25)
    assert not [m for m in cb.received if m["channel"] == "error"]
    after = await db(lambda: events_of(gpk))()
    assert len(after) == before + 2  # the good decision and its map
    for e in after:
        strict_loads(json.dumps(e.value, allow_nan=False))


async def test_nesting_just_under_the_limit_is_stored_and_read_back(make_session, ws):
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    # the message object is level 1, so the payload may nest 63 deep
    await ca.send_raw('{"channel": "notes", "payload": %s}' % nested(63, "deep"))
    await ca.send("decisions", 0.3)
    await cb.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == 0.3)
    notes = await db(lambda: events_of(gpk, "notes"))()
    assert len(notes) == 1 and json.dumps(notes[0].value) == nested(63, "deep").replace(",", ", ")
    assert not [m for m in ca.received if m["channel"] == "error"]


async def test_each_bad_message_of_a_burst_gets_one_error(make_session, ws):
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    bad = [raw for raw, _ in NOT_STRICT] * 3
    for raw in bad:
        await ca.send_raw(raw)
    await ca.send("decisions", 0.75)
    await ca.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == 0.75, timeout=10)
    errors = [m for m in ca.received if m["channel"] == "error"]
    assert len(errors) == len(bad)
    assert ca.closed_code is None


async def test_valid_unicode_and_big_finite_numbers_pass(make_session, ws):
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    value = {"smile": "\U0001F600", "escaped": "\U0001F600", "max": 1.7976931348623157e308, "int": 2 ** 62}
    await ca.send_raw('{"channel": "notes", "payload": {"smile": "\U0001F600", "escaped": "\\ud83d\\ude00", '
                      '"max": 1.7976931348623157e308, "int": %d}}' % 2 ** 62)
    await ca.send("decisions", 0.1)
    await cb.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == 0.1)
    notes = await db(lambda: events_of(gpk, "notes"))()
    assert [n.value for n in notes] == [value]
    assert not [m for m in ca.received if m["channel"] == "error"]


async def test_ping_with_bad_fields_refused_and_socket_stays_open(make_session, ws):
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    await ca.send_raw('{"channel": "ping", "timestamp": NaN, "avg_ping_time": NaN}')
    await expect_error(ca, "NaN")
    await ca.send_raw('{"channel": "ping", "timestamp": 1234.5, "avg_ping_time": null}')
    pong = await ca.recv_until(lambda m: m["channel"] == "ping")
    assert pong["timestamp"] == 1234.5
    assert ca.closed_code is None


SEQS = ["-9223372036854775809", "9223372036854775808", "99999999999999999999", "-1", "abc", "1e5",
        "%E2%91%A0", "0x10", "1" * 400, ""]


@pytest.mark.parametrize("raw", SEQS)
async def test_out_of_range_seq_gets_the_normal_resync(make_session, ws, raw):
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    await ca.send("decisions", 0.6)
    await cb.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == 0.6)
    path = harness.socket_path(APP, gpk, b) + "&seq=" + raw
    again = Client(path)
    try:
        await again.connect()
        state = await again.recv_until(lambda m: m["channel"] == "state")
        assert state["payload"] == "period_start"
        current = await again.recv_until(lambda m: m["channel"] == "group_decisions")
        assert current["payload"] == {a: 0.6, b: 0.5}
        assert not [m for m in again.received if m["channel"] == "error"]
    finally:
        await again.close()


async def test_bad_token_refused_while_the_database_threads_are_busy(make_session, ws):
    """A bad token costs one HMAC: no query, no wait for the pipeline's database thread."""
    from otree_redwood import dbthreads

    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    if not dbthreads._own_db_thread():
        pytest.skip("in-memory database: no thread of its own")
    release = threading.Event()
    loop = asyncio.get_event_loop()
    # hold the pipeline's database thread and the handshakes' thread
    held = [loop.run_in_executor(dbthreads._executor(), release.wait, 30)]
    if dbthreads._handshake_executor is not None:
        held.append(loop.run_in_executor(dbthreads._handshake_executor, release.wait, 30))
    busy = asyncio.gather(*held)
    try:
        await asyncio.sleep(0.05)
        path = "/redwood/app-name/%s/group/%s/participant/%s/?token=%s" % (APP, gpk, a, "x" * 27)
        intruder = Client(path)
        await intruder.connect()
        err = await intruder.recv(timeout=10)
        assert "token" in err["payload"]["reason"]
        assert await intruder.recv() is None and intruder.closed_code == 4003
        assert not busy.done()  # refused while the database thread was still held
    finally:
        release.set()
        await busy


# ---------------------------------------------------------------- isolation

@pytest.fixture
def poison_rows(_db):
    """A SQLite trigger that refuses to store ``decisions`` whose value holds a marker."""
    from django.db import connection

    from otree_redwood.models import Event

    marker = "POISON-" + uuid.uuid4().hex[:8]
    name = "redwood_test_" + marker.replace("-", "_")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TRIGGER %s BEFORE INSERT ON %s WHEN NEW.channel = 'decisions' AND NEW.value LIKE '%%%s%%' "
            "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END" % (name, Event._meta.db_table, marker)
        )
    yield marker
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS %s" % name)


async def test_a_row_the_database_refuses_fails_alone(make_session, ws, poison_rows):
    session, groups = make_session(APP, 4)
    (g1, (a, b)), (g2, (c, d)) = groups
    ca, cb, cc, cd = [await ws(APP, g, p) for g, p in ((g1, a), (g1, b), (g2, c), (g2, d))]
    for cl in (ca, cb, cc, cd):
        await cl.recv_until(lambda m: m["channel"] == "group_decisions")
    n = 300

    async def poison():
        for i in range(150):
            await ca.send("decisions", "%s-%d" % (poison_rows, i))
            await ca.send_raw('{"channel": "decisions", "payload": NaN}')

    async def honest():
        for i in range(n):
            await cc.send("decisions", i)
            if i % 20 == 0:
                await asyncio.sleep(0)

    await asyncio.gather(poison(), honest())
    await cd.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][c] == n - 1, timeout=30)
    stored = await db(lambda: [e.value for e in events_of(g2, "decisions")])()
    assert stored == list(range(n))
    assert not [m for m in cc.received if m["channel"] == "error"]
    # the flooder heard of every refused message: 150 parse errors, 150 not stored
    loop = asyncio.get_event_loop()
    deadline = loop.time() + 30
    while len([m for m in ca.received if m["channel"] == "error"]) < 300:
        assert loop.time() < deadline, "errors: %d" % len([m for m in ca.received if m["channel"] == "error"])
        await ca.recv(timeout=max(0.01, deadline - loop.time()))
    errors = [m["payload"]["reason"] for m in ca.received if m["channel"] == "error"]
    assert sum("not stored" in r for r in errors) == 150
    assert sum("NaN" in r for r in errors) == 150
    assert not await db(lambda: events_of(g1, "decisions"))()


async def test_a_broken_redis_key_of_one_group_fails_only_that_group(make_session, ws):
    """A batch whose Redis step fails is retried item by item: one group's fault stays there."""
    from otree_redwood import groups as groups_mod

    session, groups = make_session(APP, 4)
    (g1, (a, b)), (g2, (c, d)) = groups
    ca, cb, cc, cd = [await ws(APP, g, p) for g, p in ((g1, a), (g1, b), (g2, c), (g2, d))]
    for cl in (ca, cb, cc, cd):
        await cl.recv_until(lambda m: m["channel"] == "group_decisions")
    import redis

    from otree_redwood.engine import redis_conn

    r = redis.Redis.from_url(redis_conn.redis_url())
    key = groups_mod.cached(APP, g1).decisions_key
    r.delete(key)
    r.set(key, "not a hash")  # WRONGTYPE for every script that touches it
    try:
        n = 100
        # interleaved, so that the pipeline's batches hold both groups' items
        for i in range(n):
            if i % 2 == 0:
                await ca.send("decisions", i)
            await cc.send("decisions", i)
        await cd.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][c] == n - 1, timeout=30)
        stored = await db(lambda: [e.value for e in events_of(g2, "decisions")])()
        assert stored == list(range(n))
        assert not [m for m in cc.received if m["channel"] == "error"]
        loop = asyncio.get_event_loop()
        deadline = loop.time() + 30
        while len([m for m in ca.received if m["channel"] == "error"]) < 50:
            assert loop.time() < deadline
            await ca.recv(timeout=max(0.01, deadline - loop.time()))
    finally:
        r.delete(key)


# ---------------------------------------------------------------- the monitor

async def _next(comm, predicate, timeout=10):
    # the monitor's messages must be strict JSON, whatever participants sent
    return await admin_next(comm, predicate, timeout, loads=strict_loads)


async def test_odd_round_trips_and_deep_payloads_never_stop_the_monitor(make_session, ws, settings):
    settings.REDWOOD = dict(getattr(settings, "REDWOOD", None) or {}, MONITOR_INTERVAL=0.2)
    session, groups = make_session(APP, 4)
    (g1, (a, b)), (g2, (c, d)) = groups
    ca, cb, cc, cd = [await ws(APP, g, p) for g, p in ((g1, a), (g1, b), (g2, c), (g2, d))]
    for cl in (ca, cb, cc, cd):
        await cl.recv_until(lambda m: m["channel"] == "group_decisions")
    await ca.send_raw('{"channel": "ping", "timestamp": 1, "avg_ping_time": NaN}')
    await ca.send_raw('{"channel": "ping", "timestamp": 1, "avg_ping_time": 1.5e308}')
    await ca.send_raw('{"channel": "ping", "timestamp": 1, "avgping_time": -40}')
    await ca.send_raw('{"channel": "notes", "payload": %s}' % nested(63))
    await ca.send_raw('{"channel": "decisions", "payload": %s}' % nested(62, 0.5))
    await cc.send_raw('{"channel": "ping", "timestamp": 1, "avg_ping_time": 12.5}')
    await ca.recv_until(lambda m: m["channel"] == "group_decisions" and isinstance(m["payload"][a], list))
    comm = await _admin_socket(session.code)
    try:
        snap = await _next(comm, lambda m: m["type"] == "snapshot")
        assert len(snap["groups"]) == 2
        gk1, gk2 = "%s:%s" % (APP, g1), "%s:%s" % (APP, g2)
        report = await _next(comm, lambda m: m["type"] == "report" and gk1 in m["groups"]
                             and m["groups"][gk2]["rtt_ms"].get(c) == 12.5)
        assert a not in report["groups"][gk1]["rtt_ms"]
        # and the reports keep coming
        await _next(comm, lambda m: m["type"] == "report" and m["ts"] > report["ts"])
    finally:
        await comm.disconnect()


async def test_stored_values_that_are_not_strict_json_stay_readable(make_session, ws):
    """Data stored before the wire was strict (or by an app) cannot break the monitor or the API."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.utils import timezone

    from otree_redwood import views
    from otree_redwood.groups import get_group_model
    from otree_redwood.models import Event

    session, gpk, a, b, ca, cb = await started_pair(make_session, ws)

    def store_old_rows():
        ct = ContentType.objects.get_for_model(get_group_model(APP))
        with connection.cursor() as cursor:
            for value in ("NaN", '{"x": Infinity}', "[" * 900 + "1" + "]" * 900):
                cursor.execute(
                    "INSERT INTO %s (timestamp, content_type_id, group_pk, channel, value) "
                    "VALUES (%%s, %%s, %%s, 'notes', %%s)" % Event._meta.db_table,
                    [connection.ops.adapt_datetimefield_value(timezone.now()), ct.id, gpk, value],
                )

    await db(store_old_rows)()
    text = await db(lambda: "".join(views.iter_session_json(session.code)))()
    data = strict_loads(text)
    values = [e["value"] for e in data[APP][str(gpk)] if e["channel"] == "notes"]
    assert values[:2] == [None, {"x": None}]
    comm = await _admin_socket(session.code)
    try:
        snap = await _next(comm, lambda m: m["type"] == "snapshot")
        assert snap["groups"][0]["group"] == gpk
    finally:
        await comm.disconnect()


# ---------------------------------------------------------------- a real server

@pytest.mark.e2e
async def test_flood_of_bad_and_poison_messages_spares_another_group(server, make_session, poison_rows):
    import websockets

    srv = server()
    _, groups = make_session(APP, 4)
    (g1, (a, b)), (g2, (c, d)) = groups

    async def open_(gpk, code):
        sock = await websockets.connect(srv.ws_base + harness.socket_path(APP, gpk, code), open_timeout=20,
                                        max_queue=None)
        return sock

    socks = {code: await open_(g, code) for g, code in ((g1, a), (g1, b), (g2, c), (g2, d))}
    frames = {code: [] for code in socks}

    async def read(code):
        try:
            async for text in socks[code]:
                frames[code].append(json.loads(text))
        except websockets.WebSocketException:
            pass

    readers = [asyncio.ensure_future(read(code)) for code in socks]

    async def until(code, pred, timeout=30):
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while not any(pred(m) for m in frames[code]):
            assert loop.time() < deadline, frames[code][-3:]
            await asyncio.sleep(0.02)

    try:
        for code in socks:
            await until(code, lambda m: m["channel"] == "group_decisions")
        n = 300
        bad = ['{"channel": "decisions", "payload": NaN}', '{"channel": "notes", "payload": "\\ud800"}',
               '{"channel": "decisions"}', '{"channel": "ping", "timestamp": NaN}',
               '{"channel": "notes", "payload": %s}' % nested(1000)]

        async def flood():
            for i in range(150):
                await socks[a].send(bad[i % len(bad)])
                await socks[a].send(json.dumps({"channel": "decisions", "payload": "%s-%d" % (poison_rows, i)}))

        async def honest():
            for i in range(n):
                await socks[c].send(json.dumps({"channel": "decisions", "payload": i}))
                await asyncio.sleep(0.002)

        await asyncio.gather(flood(), honest())
        await until(d, lambda m: m["channel"] == "group_decisions" and m["payload"].get(c) == n - 1)
        await until(c, lambda m: m["channel"] == "group_decisions" and m["payload"].get(c) == n - 1)
        stored = await db(lambda: [e.value for e in events_of(g2, "decisions")])()
        assert stored == list(range(n))
        assert not [m for m in frames[c] + frames[d] if m["channel"] == "error"]
        loop = asyncio.get_event_loop()
        deadline = loop.time() + 30
        while len([f for f in frames[a] if f["channel"] == "error"]) < 300:
            assert loop.time() < deadline, len([f for f in frames[a] if f["channel"] == "error"])
            await asyncio.sleep(0.05)
        assert socks[a].close_code is None  # every bad message answered, the socket still open
    finally:
        for s in socks.values():
            await s.close()
        for r in readers:
            r.cancel()
