"""Scale-out: two ``otree prodserver`` processes behind nginx, one Redis, one PostgreSQL.

The deployment of docs/deployment.rst, on this machine: every participant
socket goes through nginx (round robin, no stickiness), the members of each
group are on different server processes (checked with the ``X-Upstream``
header nginx adds to the handshake's ``101`` response), and

* every decision's broadcast reaches every member of the group, whichever
  process holds the sender's and the receiver's sockets;
* the timers of a sub-period game (sub-period ends, period end) fire once
  across the two processes: one ``period_end`` per socket, exactly
  ``num_subperiods`` ``group_decisions`` events stored per group.

Skipped when PostgreSQL, psycopg2 or nginx is missing, unless
``REDWOOD_REQUIRE_SCALEOUT=1`` (CI), where it fails instead.
"""
import asyncio
import json
import os
import time
import types

import pytest
import websockets

from tests import harness, pgnginx

pytestmark = pytest.mark.e2e

SERVERS = 2


def _unavailable(reason):
    if os.environ.get("REDWOOD_REQUIRE_SCALEOUT") == "1":
        pytest.fail("REDWOOD_REQUIRE_SCALEOUT=1 but " + reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def stack(static_files):
    """Redis, PostgreSQL (migrated with ``otree resetdb``), 2 servers, nginx."""
    for ok, reason in (pgnginx.available(), pgnginx.available_nginx()):
        if not ok:
            _unavailable(reason)
    redis_server = pg = proxy = None
    servers = []
    try:
        redis_server = harness.RedisServer()
        pg = pgnginx.PostgresServer()
        pgnginx.resetdb(pg.url())
        env = {
            # ServerProcess.env() sets DATABASE_URL to its SQLite file first;
            # extra_env is applied after it and wins
            "DATABASE_URL": pg.url(),
            "REDWOOD_PROCESSES": str(SERVERS),  # oTree's channel layer on Redis (example settings)
        }
        for i in range(SERVERS):
            srv = harness.ServerProcess(os.path.join(pg.dir, "unused.sqlite3"), redis_server.url(0), extra_env=env)
            servers.append(srv.start())
        proxy = pgnginx.NginxProxy([s.port for s in servers])
        yield types.SimpleNamespace(redis=redis_server, pg=pg, servers=servers, nginx=proxy)
    finally:
        if proxy is not None:
            proxy.stop()
        for s in servers:
            s.kill()
        if pg is not None:
            pg.stop()
        if redis_server is not None:
            redis_server.stop()


class Socket:
    """A participant's WebSocket through nginx, recording every new frame.

    Like the browser client, a frame whose ``seq`` was already seen is
    dropped (counted in ``duplicates``): around a connect the server may send
    one twice, from the live bus and from the resync snapshot.  A timer that
    fired twice would make two frames with different seqs.
    """

    def __init__(self, url, code):
        self.url, self.code = url, code
        self.frames = []
        self.seen = set()
        self.duplicates = 0
        self.ws = None
        self.upstream = None
        self.task = None

    async def open(self):
        self.ws = await websockets.connect(self.url, open_timeout=10, ping_interval=None)
        self.upstream = pgnginx.upstream_of(self.ws)
        self.task = asyncio.ensure_future(self._read())
        return self

    async def _read(self):
        try:
            async for text in self.ws:
                msg = json.loads(text)
                seq = msg.get("seq")
                if seq is not None:
                    if seq in self.seen:
                        self.duplicates += 1
                        continue
                    self.seen.add(seq)
                self.frames.append(msg)
        except websockets.WebSocketException:
            pass

    async def send(self, channel, payload):
        await self.ws.send(json.dumps({"channel": channel, "payload": payload}))

    def maps(self):
        return [m["payload"] for m in self.frames if m["channel"] == "group_decisions"]

    def latest_map(self):
        """The map of the highest seq: what the browser client shows.

        Maps published by different processes may reach a socket out of
        order; the client ignores one whose seq is not above the latest.
        """
        maps = [m for m in self.frames if m["channel"] == "group_decisions"]
        return max(maps, key=lambda m: m["seq"])["payload"] if maps else None

    def states(self, value):
        return [m for m in self.frames if m["channel"] == "state" and m["payload"] == value]

    async def wait_for(self, pred, timeout=10, what="frame"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred(self):
                return
            await asyncio.sleep(0.02)
        raise AssertionError("%s: no %s; upstream %s, last frames %r" % (self.code, what, self.upstream,
                                                                        self.frames[-5:]))

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)


async def connect_spread(stack, group, opened):
    """Open the sockets of one group through nginx, its members on different processes.

    nginx's round robin alternates between the servers; should a member land
    on a process that already holds a member while another holds none, it
    reconnects (a few times at most).  Returns the group's sockets.
    """
    all_upstreams = {"127.0.0.1:%d" % s.port for s in stack.servers}
    sockets = []
    for code in group["codes"]:
        url = stack.nginx.ws_base + group["paths"][code]
        for _ in range(5):
            sock = await Socket(url, code).open()
            used = {s.upstream for s in sockets}
            if sock.upstream not in used or not (all_upstreams - used):
                break
            await sock.close()
        opened.append(sock)
        sockets.append(sock)
    return sockets


def spread_over(sockets):
    return {s.upstream for s in sockets}


async def test_every_broadcast_reaches_every_member_across_processes(stack):
    # two groups of 3: each spans both processes
    session = pgnginx.run_cli(stack.pg.url(), "session", "benchmark", 6, "group_size=3")
    servers = {"127.0.0.1:%d" % s.port for s in stack.servers}
    opened = []
    try:
        groups = []
        for g in session["groups"]:
            socks = await connect_spread(stack, g, opened)
            assert all(s.upstream in servers for s in socks), [s.upstream for s in socks]
            assert len(spread_over(socks)) == SERVERS, "group %s not spread: %r" % (g["pk"], spread_over(socks))
            groups.append(socks)
        # the period starts once the whole group is connected
        for s in opened:
            await s.wait_for(lambda s: s.states("period_start"), what="period_start")
        # every member sends 5 values, interleaved with the others
        sent = {}
        for k in range(1, 6):
            for gi, socks in enumerate(groups):
                for mi, s in enumerate(socks):
                    value = round(0.1 * gi + 0.01 * mi + 0.0001 * k, 4)
                    sent.setdefault(s.code, []).append(value)
                    await s.send("decisions", value)
            await asyncio.sleep(0.05)
        for socks in groups:
            final = {s.code: sent[s.code][-1] for s in socks}
            for s in socks:
                await s.wait_for(lambda s: s.latest_map() == final, what="final map %r" % final)
        for socks in groups:
            codes = {s.code for s in socks}
            for receiver in socks:
                maps = receiver.maps()
                assert all(set(m) == codes for m in maps), "a map with another group's members"
                for sender in socks:
                    seen = {m[sender.code] for m in maps}
                    # each value of each member was broadcast to every member,
                    # the sender's own socket included
                    missing = [v for v in sent[sender.code] if v not in seen]
                    assert not missing, "%s (on %s) never saw %s's (on %s) values %r" % (
                        receiver.code, receiver.upstream, sender.code, sender.upstream, missing)
        stored = pgnginx.run_cli(stack.pg.url(), "events", session["session"])
        for g in session["groups"]:
            assert stored[str(g["pk"])]["counts"].get("decisions") == 5 * len(g["codes"])
    finally:
        for s in opened:
            await s.close()


async def test_each_timer_fires_once_across_processes(stack):
    n_sub, length = 3, 3
    session = pgnginx.run_cli(stack.pg.url(), "session", "subperiod_pd", 4,
                              "period_length=%d" % length, "num_subperiods=%d" % n_sub)
    opened = []
    try:
        groups = []
        for g in session["groups"]:
            socks = await connect_spread(stack, g, opened)
            assert len(spread_over(socks)) == SERVERS, "group %s not spread: %r" % (g["pk"], spread_over(socks))
            groups.append(socks)
        for s in opened:
            await s.wait_for(lambda s: s.states("period_start"), what="period_start")
        for socks in groups:
            await socks[0].send("decisions", 0.0)
        for s in opened:
            await s.wait_for(lambda s: s.states("period_end"), timeout=length + 10, what="period_end")
        # a timer fired twice would show up within this time
        await asyncio.sleep(1.5)
        for s in opened:
            ends = s.states("period_end")
            assert len(ends) == 1, "%s on %s got %d period_end frames: %r" % (s.code, s.upstream, len(ends), s.frames)
            assert len(s.states("period_start")) == 1
            # one map per sub-period reached every socket
            # (a map sent to a socket as it connects carries no seq: it is no broadcast)
            seqs = [m["seq"] for m in s.frames if m["channel"] == "group_decisions" and "seq" in m]
            assert len(seqs) == n_sub and len(set(seqs)) == n_sub, (s.code, s.upstream, s.frames)
        stored = pgnginx.run_cli(stack.pg.url(), "events", session["session"])
        for g in session["groups"]:
            ev = stored[str(g["pk"])]
            assert ev["states"].count("period_start") == 1, ev
            assert ev["states"].count("period_end") == 1, ev
            assert ev["counts"].get("group_decisions") == n_sub, ev
            assert len(set(ev["group_decisions_seqs"])) == n_sub, ev
    finally:
        for s in opened:
            await s.close()
