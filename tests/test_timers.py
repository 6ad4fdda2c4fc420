"""Timers in Redis: period end, sub-periods, rate limits, emitters (in process)."""
import asyncio

from otree_redwood.engine import keys, protocol, redis_conn, timers
from otree_redwood.models import epoch_ms
from tests.test_consumer import APP, events_of, started_pair


def period_events(gpk):
    evs = events_of(gpk)
    start = next(i for i, e in enumerate(evs) if e.channel == "state" and e.value == "period_start")
    return evs[start:]


async def wait_for_state(client, state, timeout):
    return await client.recv_until(lambda m: m["channel"] == "state" and m["payload"] == state, timeout=timeout)


async def test_period_ends_on_server_clock(make_session, ws):
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws, period_length=1)
    for c in (ca, cb):
        await wait_for_state(c, "period_end", 5)
    from decision_demo.models import Group

    group = Group.objects.get(pk=gpk)
    length_ms = epoch_ms(group.get_end_time()) - epoch_ms(group.get_start_time())
    # never early; how late depends on the machine's load (benchmarks/timer_lateness.py measures it)
    assert length_ms >= 1000
    assert len([e for e in events_of(gpk, "state") if e.value == "period_end"]) == 1
    assert timers.pending_for_group_sync("%s:%s" % (APP, gpk)) == []


async def test_subperiods_tick_exactly_n_times(make_session, ws, monkeypatch):
    from decision_demo.models import Group

    monkeypatch.setattr(Group, "num_subperiods", lambda self: 4)
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws, wait_map=False, period_length=1.2)
    await ca.send("decisions", 0.9)
    await wait_for_state(cb, "period_end", 5)
    evs = period_events(gpk)
    maps = [e for e in evs if e.channel == "group_decisions"]
    # one map per sub-period (as in 0.9.x), the last at period end
    assert len(maps) == 4
    assert evs[-1].channel == "state" and evs[-1].value == "period_end"
    assert maps[-1].value == {a: 0.9, b: 0.5}
    ticks = [epoch_ms(e.timestamp) - epoch_ms(evs[0].timestamp) for e in maps]
    # each sub-period map comes at or after its due time, in order
    for k, t in enumerate(ticks, start=1):
        assert t >= k * 300 - 1, ticks
    assert ticks == sorted(ticks)
    # and the ticks were due on the exact grid start + k * 300 ms (no drift)
    t0 = epoch_ms(evs[0].timestamp)
    records = redis_conn.get_sync().lrange(keys.key("lateness"), 0, -1)
    due = sorted(float(x.decode().split("|")[2]) for x in records
                 if x.decode().startswith("subperiod|sp:%s:%s|" % (APP, gpk)))
    assert [round(d - t0) for d in due] == [300, 600, 900]
    group = Group.objects.get(pk=gpk)
    assert group.subperiod_group_decisions == {a: 0.9, b: 0.5}
    # between ticks a decision is stored but not broadcast
    # (a map sent to a socket as it connects carries no seq: it is no broadcast)
    broadcast_after_decision = [m for m in cb.received if m["channel"] == "group_decisions" and "seq" in m]
    assert len(broadcast_after_decision) == 4


async def test_rate_limit_caps_broadcasts_and_sends_the_last(make_session, ws, monkeypatch):
    from decision_demo.models import Group

    monkeypatch.setattr(Group, "rate_limit", lambda self: 0.2)
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws)
    n = 60
    for i in range(n):
        await ca.send("decisions", i)
        await asyncio.sleep(0.01)
    final = await cb.recv_until(lambda m: m["channel"] == "group_decisions" and m["payload"][a] == n - 1, timeout=5)
    await asyncio.sleep(0.5)
    maps = [e for e in events_of(gpk, "group_decisions")][1:]  # after the initial map
    # as in 0.9.x: broadcasts on a fixed grid of 200 ms from the period start,
    # at most one per grid tick, and only when something changed
    t0 = epoch_ms(Group.objects.get(pk=gpk).get_start_time())
    due = [float(x.decode().split("|")[2]) for x in redis_conn.get_sync().lrange(keys.key("lateness"), 0, -1)
           if x.decode().startswith("ratelimit|rl:%s:%s|" % (APP, gpk))]
    # (due times are recorded to 0.1 ms)
    assert due and all(abs((d - t0) - 200 * round((d - t0) / 200)) < 0.2 and d > t0 for d in due), (t0, due)
    assert len(maps) <= len(due)
    assert all(epoch_ms(e.timestamp) >= t0 + 200 - 1 for e in maps)
    assert maps[-1].value[a] == n - 1 and final["seq"] == maps[-1].seq
    assert len(maps) < n / 3
    assert len(events_of(gpk, "decisions")) == n
    # nothing changed since: no further broadcast
    assert [m for m in await cb.drain(0.5) if m["channel"] == "group_decisions"] == []


async def test_rate_limited_change_flushed_at_period_end(make_session, ws, monkeypatch):
    from decision_demo.models import Group

    monkeypatch.setattr(Group, "rate_limit", lambda self: 5)
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws, period_length=1)
    await ca.send("decisions", 0.1)  # broadcast at once (first in the interval)
    await ca.send("decisions", 0.2)  # deferred: the flush would come after the period
    await wait_for_state(cb, "period_end", 5)
    maps = [m for m in cb.received if m["channel"] == "group_decisions"]
    assert maps[-1]["payload"][a] == 0.2
    assert Group.objects.get(pk=gpk).group_decisions[a] == 0.2


async def test_emitters_any_number_per_group_without_interference(make_session, ws, monkeypatch):
    from decision_demo.models import Group
    from otree_redwood.utils import DiscreteEventEmitter

    def _tick_a(self, k, intervals):
        self.send("tick_a", {"k": k, "n": intervals, "dec": dict(self.group_decisions)})

    def _tick_b(self, k, intervals):
        self.send("tick_b", k)

    def _on_go_event(self, event):
        DiscreteEventEmitter(0.1, 0.5, self, self._tick_a).start()
        DiscreteEventEmitter(0.05, 0.5, self, self._tick_b, start_immediate=True).start()

    monkeypatch.setattr(Group, "_tick_a", _tick_a, raising=False)
    monkeypatch.setattr(Group, "_tick_b", _tick_b, raising=False)
    monkeypatch.setattr(Group, "_on_go_event", _on_go_event, raising=False)
    session, groups = make_session(APP, 4)
    clients = {}
    for gpk, codes in groups:
        clients[gpk] = [await ws(APP, gpk, c) for c in codes]
    for gpk, cs in clients.items():
        for c in cs:
            await c.recv_until(lambda m: m["channel"] == "group_decisions")
    for gpk, cs in clients.items():
        await cs[0].send("go", None)
    (g1, (a1, _)), (g2, _) = groups
    await asyncio.sleep(0.25)
    await clients[g1][0].send("decisions", 0.33)  # later ticks must see it
    await asyncio.sleep(0.8)
    for gpk, _codes in groups:
        a_ticks = [e.value for e in events_of(gpk, "tick_a")]
        b_ticks = [e.value for e in events_of(gpk, "tick_b")]
        assert [t["k"] for t in a_ticks] == [0, 1, 2, 3, 4]
        assert all(t["n"] == 5 for t in a_ticks)
        assert b_ticks == list(range(10))
    g1_ticks = [e.value for e in events_of(g1, "tick_a")]
    assert g1_ticks[0]["dec"][a1] == 0.5 and g1_ticks[-1]["dec"][a1] == 0.33
    assert all(t["dec"][a1] == 0.5 for t in (e.value for e in events_of(g2, "tick_a")) if a1 in t["dec"])


def test_claim_is_exactly_once_across_concurrent_claimers(redis_db):
    """Two claimers racing on the same due ticks never get the same (id, k)."""
    import threading

    now = protocol.now_ms()
    for i in range(50):
        timers.schedule_sync("em:test:%d" % i, "emitter", "test:%d" % i, now - 1000, 1.0, 20, {"intervals": 20})
    r = redis_conn.get_sync()
    claim = r.register_script(timers.CLAIM_LUA)
    got = []
    lock = threading.Lock()

    def worker():
        while True:
            flat = claim(keys=[timers.zset_key()], args=[repr(protocol.now_ms()), 7,
                                                        timers.hash_prefix(), timers.group_set_prefix()])
            ticks = timers.parse_claim(flat)
            if not ticks and not r.zcard(timers.zset_key()):
                return
            with lock:
                got.extend((t.id, t.k) for t in ticks)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == 50 * 20
    assert len(set(got)) == len(got)
    assert not r.keys(timers.hash_prefix() + "*")


def test_overdue_periodic_timer_keeps_its_grid(redis_db):
    """Tick k is due at first + k*interval, however late it is claimed."""
    now = protocol.now_ms()
    timers.schedule_sync("em:grid", "emitter", "grid:1", now - 10000, 100.0, 5, {"intervals": 5})
    r = redis_conn.get_sync()
    claim = r.register_script(timers.CLAIM_LUA)
    dues = []
    for _ in range(5):
        ticks = timers.parse_claim(claim(keys=[timers.zset_key()], args=[repr(now), 100, timers.hash_prefix(),
                                                                        timers.group_set_prefix()]))
        dues.extend((t.k, t.due_ms - (now - 10000)) for t in ticks)
    assert dues == [(k, k * 100.0) for k in range(5)]


def test_group_infos_of_a_session_are_built_in_a_few_queries(make_session):
    """A timer of a group without a socket here loads it and its siblings at once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from decision_demo.models import Group
    from otree_redwood import groups

    session, members = make_session("decision_demo", 20)
    groups._cache.clear()
    with CaptureQueriesContext(connection) as queries:
        built = groups.build_infos(["decision_demo:%s" % members[0][0]])
    assert sorted(i.pk for i in built) == sorted(pk for pk, _ in members)
    assert len(queries) <= 5, [q["sql"] for q in queries]
    for info in built:
        ref = groups.build_info(Group.objects.get(pk=info.pk))
        for name in groups.GroupInfo.__slots__:
            assert getattr(info, name) == getattr(ref, name), name
    assert groups.build_infos(["decision_demo:999999"]) == []


async def test_lost_period_end_is_repaired_by_a_reconnect(make_session, ws, monkeypatch):
    """A period end claimed by a process that died before running it is not lost for good."""
    from otree_redwood.engine import lifecycle

    monkeypatch.setattr(lifecycle, "PERIOD_END_GRACE", 0.2)
    _, gpk, a, b, ca, cb = await started_pair(make_session, ws, period_length=0.5)
    gk = "%s:%s" % (APP, gpk)
    assert timers.is_scheduled("pe:" + gk)
    # what a claim by a process killed right after it leaves behind
    timers.cancel_sync("pe:" + gk)
    await asyncio.sleep(0.9)
    assert not [e for e in events_of(gpk, "state") if e.value == "period_end"]
    # the dead process's sockets reconnect
    await ca.close()
    ca2 = await ws(APP, gpk, a)
    for c in (ca2, cb):
        await wait_for_state(c, "period_end", 5)
    assert len([e for e in events_of(gpk, "state") if e.value == "period_end"]) == 1
    # a later connect repairs nothing more
    await ws(APP, gpk, b)
    await asyncio.sleep(0.3)
    assert len([e for e in events_of(gpk, "state") if e.value == "period_end"]) == 1


async def test_stop_runs_the_ticks_it_claimed(make_session):
    """A stopping server finishes the ticks it took from Redis: none is lost."""
    from otree_redwood.engine import runtime

    session, members = make_session(APP, 2)
    (gpk, _), = members
    gk = "%s:%s" % (APP, gpk)
    n = 3000
    # every tick overdue: claimed 1,000 at a time
    timers.schedule_sync("sp:" + gk, "subperiod", gk, protocol.now_ms() - 60000, 1.0, n)
    rt = await runtime.ensure_started()
    await asyncio.sleep(0.05)
    await rt.stop()
    stored = len(events_of(gpk, "group_decisions"))
    next_k = redis_conn.get_sync().hget(timers.hash_prefix() + "sp:" + gk, "k")
    left = n - int(next_k) if next_k is not None else 0
    assert stored > 0
    assert stored + left == n, (stored, left)
