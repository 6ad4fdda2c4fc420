"""The participant socket's rules (engine/socket.py, engine/handshakes.py), for both hosts at once.

No server, Redis or database: the transport is three recording callables,
the runtime and the handshake steps are fakes, and nothing waits on a
clock -- the tests step the event loop with ``settle()`` (a few turns of
``asyncio.sleep(0)``) and look at what the client would have received.
"""
import asyncio
import json
import types

import pytest

from otree_redwood.engine import errors, handshakes, protocol
from otree_redwood.engine import socket as wsock


async def settle(turns=20):
    for _ in range(turns):
        await asyncio.sleep(0)


class Transport:
    """What the host hands the socket: everything the client would see, in order."""

    def __init__(self):
        self.events = []  # ("accept",) / ("send", frame dict) / ("close", code)
        self.gate = None  # when set, a send waits for it (a slow client)

    async def send(self, text):
        if self.gate is not None:
            await self.gate.wait()
        self.events.append(("send", json.loads(text)))

    async def accept(self):
        self.events.append(("accept",))

    async def close(self, code):
        self.events.append(("close", code))

    def frames(self, channel=None):
        return [e[1] for e in self.events if e[0] == "send" and (channel is None or e[1]["channel"] == channel)]


class Runtime:
    process_id = "proc-1"

    def __init__(self, log):
        self.log = log
        self.submitted = []

    async def attach(self, sock):
        self.log.append(("attach", sock.participant_code))

    async def detach(self, sock):
        self.log.append(("detach", sock.participant_code))

    def submit_inbound(self, sock, channel, payload):
        self.submitted.append((sock, channel, payload))

    async def call(self, fn, *args):
        self.log.append(("call", fn.__name__, args[2]))


INFO = types.SimpleNamespace(gk="app-1", sockets_key="sockets:app-1", server_only=frozenset({"period_end"}))


class Steps:
    """A host's handshake steps, recording the order they ran in."""

    def __init__(self, log, refuse_at=None, fail_at=None, frames=()):
        self.log, self.refuse_at, self.fail_at, self.frames = log, refuse_at, fail_at, frames
        self.rt = Runtime(log)

    def _step(self, name):
        self.log.append((name,))
        if self.refuse_at == name:
            raise errors.Refused(protocol.CLOSE_FORBIDDEN, "not you")
        if self.fail_at == name:
            raise RuntimeError("boom")

    def precheck(self, app_name, group, code, token, require_token):
        self._step("precheck")
        return int(group)

    async def start(self):
        self._step("start")
        return self.rt

    async def authorize(self, app_name, group_pk, code, token, require_token):
        self._step("authorize")
        return INFO, 7

    async def connect(self, info, pid, code, last_seq, entry):
        self._step("connect")
        self.log.append(("last_seq", last_seq))
        self.log.append(("entry", entry))
        return list(self.frames)

    async def ready(self, info):
        self._step("ready")


_made = []


@pytest.fixture(autouse=True)
async def stop_senders():
    yield
    for sock in _made:
        if sock.sender_task is not None:
            sock.sender_task.cancel()
            await asyncio.gather(sock.sender_task, return_exceptions=True)
    del _made[:]


def make(steps=None, check_browser=None, log=None):
    log = [] if log is None else log
    steps = steps or Steps(log)
    t = Transport()
    # the log shows the transport's calls among the steps
    orig_accept = t.accept

    async def accept():
        log.append(("accept",))
        await orig_accept()

    sock = wsock.ParticipantSocket(t.send, accept, t.close, steps, check_browser)
    _made.append(sock)
    return sock, t, steps, log


async def opened(**kw):
    sock, t, steps, log = make(**kw)
    assert await sock.open("app", "1", "code-a", "tok", None)
    await settle()
    return sock, t, steps, log


def frame(channel, payload=1):
    return json.dumps({"channel": channel, "payload": payload})


def a_map(n):
    return protocol.frame("group_decisions", json.dumps({"code-a": n}))


# ---------------------------------------------------------------- handshake

async def test_the_handshake_runs_its_steps_in_order_and_the_first_frames_come_first():
    log = []
    steps = Steps(log, frames=[protocol.frame("note", "1", seq=3), protocol.frame("state", '"period_start"')])
    sock, t, _, _ = make(steps, log=log)
    assert await sock.open("app", "1", "code-a", "tok", "2")
    await settle()
    names = [e[0] for e in log]
    assert names == ["precheck", "start", "authorize", "accept", "attach", "connect", "last_seq", "entry", "ready"]
    # the connect batch enters the socket among the group's live sockets
    assert ("entry", (sock.socket_id, "proc-1")) in log
    assert ("last_seq", 2) in log
    assert [f["channel"] for f in t.frames()] == ["note", "state"]
    assert sock.info is INFO and sock.participant_id == 7


@pytest.mark.parametrize("raw, expected", [
    ("12", 12), (None, None), ("", None), ("-1", None), ("1e3", None), ("٣", None), ("9" * 21, None),
    (str(2 ** 63 - 1), 2 ** 63 - 1), (str(2 ** 63), None),
])
def test_a_seq_that_the_server_cannot_have_sent_means_a_plain_resync(raw, expected):
    assert wsock.parse_seq(raw) == expected


@pytest.mark.parametrize("where", ["precheck", "authorize"])
async def test_a_refused_socket_is_accepted_told_why_and_closed_with_the_code(where):
    log = []
    sock, t, _, _ = make(Steps(log, refuse_at=where), log=log)
    assert not await sock.open("app", "1", "code-a", "tok", None)
    assert t.events[0] == ("accept",)
    assert t.events[1][1]["channel"] == "error"
    assert t.events[1][1]["payload"]["reason"] == "not you"
    assert t.events[1][1]["payload"]["close_code"] == protocol.CLOSE_FORBIDDEN
    assert t.events[2] == ("close", protocol.CLOSE_FORBIDDEN)
    assert "attach" not in [e[0] for e in log]
    if where == "precheck":
        # a bad token costs no start and no database work
        assert [e[0] for e in log] == ["precheck", "accept"]
    # what it sends before the close lands is ignored; its end runs no hook
    await sock.receive(frame("decisions"))
    await sock.closed()
    assert len(t.events) == 3 and "call" not in [e[0] for e in log]


async def test_an_unexpected_error_before_accept_closes_with_the_server_error_code():
    sock, t, _, _ = make(Steps([], fail_at="authorize"))
    assert not await sock.open("app", "1", "code-a", "tok", None)
    assert t.frames()[0]["payload"]["reason"] == "server error"
    assert t.events[-1] == ("close", protocol.CLOSE_SERVER_ERROR)


async def test_an_error_after_accept_is_reported_and_the_socket_stays_open():
    sock, t, steps, _ = make(Steps([], fail_at="connect"))
    assert await sock.open("app", "1", "code-a", "tok", None)
    await settle()
    assert t.frames()[-1]["payload"]["reason"] == "server error while connecting"
    assert ("close", protocol.CLOSE_SERVER_ERROR) not in t.events
    await sock.receive(frame("decisions", 0.5))
    assert [(c, p) for _, c, p in steps.rt.submitted] == [("decisions", 0.5)]


async def test_the_browser_check_runs_only_with_the_binding_on(monkeypatch):
    asked = []

    async def check(code):
        asked.append(code)
        raise errors.Refused(protocol.CLOSE_FORBIDDEN, "another browser")

    sock, t, _, _ = make(check_browser=check)
    assert await sock.open("app", "1", "code-a", "tok", None)
    assert asked == []
    monkeypatch.setenv("REDWOOD_BIND_PARTICIPANT_TO_BROWSER", "1")
    monkeypatch.setattr(wsock.conf, "_source", None)
    sock, t, _, _ = make(check_browser=check)
    assert not await sock.open("app", "1", "code-a", "tok", None)
    assert asked == ["code-a"]
    assert t.events[-1] == ("close", protocol.CLOSE_FORBIDDEN)


async def test_closing_leaves_the_bus_and_runs_the_disconnect_phase():
    sock, t, _, log = await opened()
    await sock.closed()
    assert log[-2:] == [("detach", "code-a"), ("call", "disconnect_phase", "code-a")]
    sock.deliver(frame("late"))
    await settle()
    assert "late" not in [f["channel"] for f in t.frames()]


# ---------------------------------------------------------------- inbound

async def test_bad_frames_get_an_error_and_are_not_submitted():
    sock, t, steps, _ = await opened()
    for text in ("not json", '{"channel":"decisions"}', frame("period_end"), None, "[1]"):
        await sock.receive(text)
    await settle()
    errors_ = t.frames("error")
    assert len(errors_) == 5
    assert "reserved for the server" in errors_[2]["payload"]["reason"]
    assert steps.rt.submitted == []


async def test_a_ping_is_answered_only_after_the_messages_before_it_are_processed():
    sock, t, steps, _ = await opened()
    await sock.receive(json.dumps({"channel": "ping", "timestamp": 1, "avg_ping_time": 12.34}))
    await settle()
    assert [f["timestamp"] for f in t.frames("ping")] == [1]  # nothing pending: at once
    assert sock.rtt_ms == 12.3
    await sock.receive(frame("decisions", 1))
    await sock.receive(frame("decisions", 2))
    await sock.receive(json.dumps({"channel": "ping", "timestamp": 2}))
    await sock.receive(frame("decisions", 3))
    await sock.receive(json.dumps({"channel": "ping", "timestamp": 3}))
    await settle()
    assert [f["timestamp"] for f in t.frames("ping")] == [1]
    sock.processed()
    await settle()
    assert [f["timestamp"] for f in t.frames("ping")] == [1]
    sock.processed()  # both messages before ping 2 are done; message 3 is not
    await settle()
    assert [f["timestamp"] for f in t.frames("ping")] == [1, 2]
    sock.processed()
    await settle()
    assert [f["timestamp"] for f in t.frames("ping")] == [1, 2, 3]
    assert all("server_ts" in f for f in t.frames("ping"))


async def test_an_impossible_round_trip_is_not_shown():
    sock, _, _, _ = await opened()
    await sock.receive(json.dumps({"channel": "ping", "timestamp": 1, "avg_ping_time": wsock.MAX_RTT_MS + 1}))
    assert sock.rtt_ms is None


async def test_a_socket_with_too_many_messages_waiting_is_not_read_until_half_are_done():
    sock, _, steps, _ = await opened()
    limit = wsock.MAX_PENDING_PER_SOCKET
    for i in range(limit - 1):
        await sock.receive(frame("decisions", i))
    blocked = asyncio.ensure_future(sock.receive(frame("decisions", "last")))
    await settle()
    assert not blocked.done()
    for _ in range(limit // 2):
        sock.processed()
    await settle()
    assert not blocked.done()  # still at half
    sock.processed()
    await settle()
    assert blocked.done()
    assert len(steps.rt.submitted) == limit


# ---------------------------------------------------------------- outbound

async def test_a_backed_up_outbox_keeps_only_the_newest_map_and_every_other_frame():
    sock, t, _, _ = await opened()
    sock._coalesce_at = 2
    t.gate = asyncio.Event()  # the client reads nothing for now
    sock.deliver(frame("first"))
    await settle()  # the sender holds "first", waiting on the client
    for n in range(4):
        sock.deliver(a_map(n))  # from two queued on, a map replaces the queued ones
        if n == 2:
            sock.deliver(frame("note"))
    t.gate.set()
    await settle()
    sent = [(f["channel"], f["payload"]) for f in t.frames()]
    assert sent == [("first", 1), ("note", 1), ("group_decisions", {"code-a": 3})]


async def test_a_socket_that_cannot_keep_up_is_closed_with_4008_and_gets_nothing_more():
    sock, t, _, _ = await opened()
    sock._coalesce_at, sock._outbox_limit = 3, 5
    t.gate = asyncio.Event()
    sock.deliver(frame("first"))
    await settle()
    for n in range(6):
        sock.deliver(frame("note", n))
    await settle()
    assert ("close", protocol.CLOSE_TOO_SLOW) in t.events
    t.gate.set()
    await settle()
    sock.deliver(a_map(9))
    await settle()
    assert [f["channel"] for f in t.frames()] == ["first"]


# ---------------------------------------------------------------- batching

async def test_calls_arriving_while_the_executor_is_busy_go_together_in_arrival_order():
    calls, gate = [], asyncio.Event()

    def fn_many(requests):
        calls.append([r[0] for r in requests])
        return [(False, errors.Refused(4003, "no")) if r[0] == "bad" else (True, r[0] * 2) for r in requests]

    def executor(fn):
        async def run(*args):
            await gate.wait()
            return fn(*args)
        return run

    run = handshakes.batched(fn_many, executor)
    first = asyncio.ensure_future(run("a"))
    await settle()
    rest = [asyncio.ensure_future(run(x)) for x in ("b", "bad", "c")]
    await settle()
    gate.set()
    assert await first == "aa"
    assert await rest[0] == "bb" and await rest[2] == "cc"
    with pytest.raises(errors.Refused):
        await rest[1]
    assert calls == [["a"], ["b", "bad", "c"]]


async def test_a_batch_that_fails_as_a_whole_is_retried_one_by_one():
    calls = []

    def fn_many(requests):
        calls.append([r[0] for r in requests])
        if any(r[0] == "poison" for r in requests):
            raise RuntimeError("a query of the batch failed")
        return [(True, r[0]) for r in requests]

    def executor(fn):
        async def run(*args):
            await asyncio.sleep(0)
            return fn(*args)
        return run

    run = handshakes.batched(fn_many, executor)
    results = await asyncio.gather(run("x"), run("poison"), run("y"), return_exceptions=True)
    assert results[0] == "x" and results[2] == "y"
    assert isinstance(results[1], RuntimeError)
    assert calls == [["x", "poison", "y"], ["x"], ["poison"], ["y"]]
