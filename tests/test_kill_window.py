"""Never broadcast what is not stored, never lose what was acknowledged.

A real server is SIGKILLed ten times at random moments of a burst of
decisions from several groups, and started again each time.  Afterwards:
every frame any client received under a seq is in the database with that
seq and value; every decision that a client saw in a map, or that a ping
reply confirmed, is stored; no seq is stored twice.
"""
import asyncio
import json
import random
import time

import pytest
import websockets

from otree_redwood.models import Event
from tests import harness

pytestmark = pytest.mark.e2e

APP = "decision_demo"
KILLS = 10


class Burst:
    """One participant sending a new decision every few ms, with pings."""

    def __init__(self, base, gpk, code, index):
        self.base, self.gpk, self.code = base, gpk, code
        self.index = index
        self.counter = 0
        self.received = []     # every frame with a seq, as received
        self.acked = set()     # decisions confirmed by a ping reply
        self.highest = None
        self.connects = 0
        self.running = True
        self.task = asyncio.get_event_loop().create_task(self._run())

    def value(self, n):
        return self.index * 1000000 + n

    async def _run(self):
        while self.running:
            try:
                path = harness.socket_path(APP, self.gpk, self.code, seq=self.highest)
                async with websockets.connect(self.base + path, open_timeout=5) as sock:
                    self.connects += 1
                    sent = []  # decisions on this connection, not yet confirmed
                    reader = asyncio.get_event_loop().create_task(self._read(sock, sent))
                    try:
                        while self.running and not reader.done():
                            self.counter += 1
                            await sock.send(json.dumps({"channel": "decisions", "payload": self.value(self.counter)}))
                            sent.append(self.counter)
                            if self.counter % 10 == 0:
                                await sock.send(json.dumps({"channel": "ping", "timestamp": self.counter}))
                            await asyncio.sleep(0.008)
                    finally:
                        reader.cancel()
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.1)

    async def _read(self, sock, sent):
        try:
            async for text in sock:
                msg = json.loads(text)
                if msg.get("channel") == "ping" and isinstance(msg.get("timestamp"), (int, float)):
                    upto = msg["timestamp"]
                    self.acked.update(self.value(n) for n in sent if n <= upto)
                    sent[:] = [n for n in sent if n > upto]
                elif "seq" in msg:
                    self.received.append(msg)
                    if self.highest is None or msg["seq"] > self.highest:
                        self.highest = msg["seq"]
        except websockets.WebSocketException:
            pass

    async def stop(self):
        self.running = False
        self.task.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, Exception):
            pass


@pytest.fixture
def killable(db_path, redis_server, static_files):
    import redis

    redis.Redis.from_url(redis_server.url(3)).flushdb()
    procs = []

    def start(port=None):
        proc = harness.ServerProcess(db_path, redis_server.url(3), port=port).start()
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        p.kill()


async def wait_all_reconnected(bursts, counts, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(b.connects > c for b, c in zip(bursts, counts)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("clients did not reconnect")


async def test_sigkill_at_random_points_of_a_burst(killable, make_session):
    from decision_demo.models import Group
    from django.contrib.contenttypes.models import ContentType

    rng = random.Random(13)
    _, groups = make_session("benchmark", 6, group_size=2)
    srv = killable()
    bursts = []
    for gpk, codes in groups:
        for code in codes:
            bursts.append(Burst(srv.ws_base, gpk, code, len(bursts) + 1))
    try:
        counts = [0] * len(bursts)
        for _ in range(KILLS):
            await wait_all_reconnected(bursts, counts)
            counts = [b.connects for b in bursts]
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            srv.kill()
            srv = killable(port=srv.port)
        await wait_all_reconnected(bursts, counts)
        await asyncio.sleep(1.0)
    finally:
        for b in bursts:
            await b.stop()
    from otree.models import Participant

    ct = ContentType.objects.get_for_model(Group)
    code_of = {b.code: b for b in bursts}
    lost_acks = []
    code_by_pid = dict(Participant.objects.filter(code__in=list(code_of)).values_list("id", "code"))
    for gpk, codes in groups:
        events = list(Event.objects.filter(content_type=ct, group_pk=gpk))
        seqs = [e.seq for e in events if e.seq is not None]
        assert len(seqs) == len(set(seqs)), "a seq stored twice in group %s" % gpk
        by_seq = {e.seq: e for e in events if e.seq is not None}
        stored = {(code_by_pid[e.participant_id], json.dumps(e.value)) for e in events
                  if e.channel == "decisions" and e.participant_id}
        for code in codes:
            b = code_of[code]
            for m in b.received:
                e = by_seq.get(m["seq"])
                assert e is not None, "frame with seq %s not stored: %r" % (m["seq"], m)
                assert (e.channel, e.value) == (m["channel"], m["payload"]), m
                if m["channel"] == "group_decisions":
                    for member, value in m["payload"].items():
                        assert value == 0.5 or (member, json.dumps(value)) in stored, \
                            "map shows a decision that is not stored: %s=%r" % (member, value)
            lost_acks.extend(v for v in b.acked if (code, json.dumps(v)) not in stored)
    assert sum(len(b.acked) for b in bursts) > 100
    # a ping is answered only once what the page sent before it is stored:
    # no decision the page counts as confirmed is ever lost
    assert lost_acks == [], "%d decisions confirmed by a ping reply were lost" % len(lost_acks)
