"""Redis that comes back empty: a cache of the database, rebuilt on demand.

A real ``otree prodserver`` runs on a redis-server of its own, which the test
restarts with no data (what a Redis without persistence does) or empties with
FLUSHALL, in the middle of a period.  The period still ends once, sub-periods
stay exactly n, emitters of Group methods keep their ticks, the map survives
and sequence numbers go on above every stored one.
"""
import asyncio
import time

import pytest
import redis
import websockets

from otree_redwood.models import Event, epoch_ms
from tests import harness
from tests.test_e2e_server import LiveClient

pytestmark = pytest.mark.e2e


class Client(LiveClient):
    """A participant socket that reconnects with ?seq= as the browser does; started at once."""

    def __init__(self, base, app, group_pk, code):
        super().__init__(base, group_pk, code, app=app)
        self.start()

    async def send(self, channel, payload):
        # a send while the server is away is lost, as a page's would be until it reconnects
        if self.sock is not None:
            try:
                await super().send(channel, payload)
            except websockets.WebSocketException:
                pass

    def maps(self):
        return [m for m in self.frames if m["channel"] == "group_decisions" and "seq" in m]


def is_state(value):
    return lambda m: m["channel"] == "state" and m["payload"] == value


def group_events(app, gpk, channel=None):
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType

    model = apps.get_app_config(app).get_model("Group")
    qs = Event.objects.filter(content_type=ContentType.objects.get_for_model(model), group_pk=gpk)
    if channel:
        qs = qs.filter(channel=channel)
    return list(qs.order_by("timestamp", "id"))


def top_seq(app, gpk):
    return max([e.seq for e in group_events(app, gpk) if e.seq is not None], default=0)


def assert_consistent(app, gpk, clients):
    """No seq stored twice; what each client got under a seq is stored so, in order."""
    stored = [e for e in group_events(app, gpk) if e.seq is not None]
    seqs = [e.seq for e in stored]
    assert len(seqs) == len(set(seqs)), sorted(seqs)
    by_seq = {e.seq: e for e in stored}
    for c in clients:
        got = [m["seq"] for m in c.frames if "seq" in m]
        assert got == sorted(got), got  # never a regression
        for m in c.frames:
            if "seq" in m:
                assert m["seq"] in by_seq, m
                assert (by_seq[m["seq"]].channel, by_seq[m["seq"]].value) == (m["channel"], m["payload"]), m


def period_bounds(app, gpk):
    states = group_events(app, gpk, "state")
    start = [e for e in states if e.value == "period_start"]
    ends = [e for e in states if e.value == "period_end"]
    return start, ends


@pytest.fixture
def own_redis():
    server = harness.RedisServer()
    yield server
    server.stop()


@pytest.fixture
def server_on(db_path, static_files):
    procs = []

    def start(redis_url):
        proc = harness.ServerProcess(db_path, redis_url).start()
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        p.kill()


async def start_group(srv, make_session, config, app, **fields):
    _, groups = make_session(config, 2, app_name=app, **fields)
    (gpk, codes), = groups
    clients = [Client(srv.ws_base, app, gpk, c) for c in codes]
    for c in clients:
        await c.wait_for(is_state("period_start"))
    return gpk, codes, clients


async def decide_until_seen(sender, watcher, value, code, timeout=30):
    """Send a decision until a map with it arrives (a send during the outage may be refused)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        await sender.send("decisions", value)
        try:
            return await watcher.wait_for(
                lambda m: m["channel"] == "group_decisions" and "seq" in m and m["payload"].get(code) == value,
                timeout=1.5)
        except AssertionError:
            continue
    raise AssertionError("decision %r never broadcast" % value)


async def test_redis_restarted_empty_mid_period(own_redis, server_on, make_session):
    """Sub-periods (one tick falls in the outage) and instant maps, through one restart."""
    srv = server_on(own_redis.url(0))
    n, length = 8, 8
    spk, (sa, sb), sub = await start_group(srv, make_session, "subperiod_pd", "subperiod_pd",
                                           period_length=length, num_subperiods=n)
    dpk, (da, db), dem = await start_group(srv, make_session, "decision_demo", "decision_demo", period_length=12)
    try:
        await sub[0].send("decisions", 0.0)
        await decide_until_seen(dem[0], dem[1], 0.25, da)
        await sub[1].wait_for(lambda m: m["channel"] == "group_decisions" and m["payload"].get(sa) == 0.0)
        before = {spk: top_seq("subperiod_pd", spk), dpk: top_seq("decision_demo", dpk)}
        # down across at least one sub-period end
        own_redis.restart_empty(down_seconds=1.5)
        after = await decide_until_seen(dem[1], dem[0], 0.75, db)
        assert after["payload"] == {da: 0.25, db: 0.75}  # the map survived
        assert after["seq"] > before[dpk]
        await sub[1].send("decisions", 0.0)
        for c in sub + dem:
            await c.wait_for(is_state("period_end"), timeout=40)
    finally:
        for c in sub + dem:
            await c.stop()
    maps = group_events("subperiod_pd", spk, "group_decisions")
    assert len(maps) == n, [(m.seq, m.value) for m in maps]
    assert maps[-1].value == {sa: 0.0, sb: 0.0}
    assert [m.seq for m in maps if m.seq > before[spk]]
    for c in sub:
        assert [m["seq"] for m in c.maps()] == [m.seq for m in maps]
    for app, gpk, clients, plen in (("subperiod_pd", spk, sub, length), ("decision_demo", dpk, dem, 12)):
        start, ends = period_bounds(app, gpk)
        assert len(start) == 1 and len(ends) == 1
        late = epoch_ms(ends[0].timestamp) - epoch_ms(start[0].timestamp) - plen * 1000
        assert late >= 0, late
        assert_consistent(app, gpk, clients)


async def test_flushall_mid_period(own_redis, server_on, make_session):
    """FLUSHALL: sub-periods, emitters and an instant-map group recover."""
    srv = server_on(own_redis.url(0))
    n, length = 6, 6
    spk, (sa, sb), sub = await start_group(srv, make_session, "subperiod_pd", "subperiod_pd",
                                           period_length=length, num_subperiods=n)
    # legacy_channels: a bound-method emitter ticking at 2, 4, 6 and 8 s of 10
    lpk, _, leg = await start_group(srv, make_session, "legacy_channels", "legacy_channels", period_length=10)
    dpk, (da, db), dem = await start_group(srv, make_session, "decision_demo", "decision_demo", period_length=10)
    try:
        await sub[0].send("decisions", 0.0)
        await decide_until_seen(dem[0], dem[1], 0.3, da)
        before = top_seq("decision_demo", dpk)
        await asyncio.sleep(2.6)
        redis.Redis.from_url(own_redis.url(0)).flushall()
        after = await decide_until_seen(dem[1], dem[0], 0.6, db)
        assert after["payload"] == {da: 0.3, db: 0.6}
        assert after["seq"] > before
        for c in sub + leg + dem:
            await c.wait_for(is_state("period_end"), timeout=40)
    finally:
        for c in sub + leg + dem:
            await c.stop()
    maps = group_events("subperiod_pd", spk, "group_decisions")
    assert len(maps) == n, [(m.seq, m.value) for m in maps]
    assert maps[-1].value == {sa: 0.0, sb: 1.0}
    assert [e.value for e in group_events("legacy_channels", lpk, "slow_tick")] == [0, 1, 2, 3]
    # and a closure emitter (ticks at 1..7 s), which only its process can re-arm
    assert [e.value["interval"] for e in group_events("legacy_channels", lpk, "tick")] == list(range(7))
    for app, gpk, clients in (("subperiod_pd", spk, sub), ("legacy_channels", lpk, leg),
                              ("decision_demo", dpk, dem)):
        start, ends = period_bounds(app, gpk)
        assert len(start) == 1 and len(ends) == 1
        assert_consistent(app, gpk, clients)
