"""Run ``scripts/demo.sh`` (or ``scripts/demo.sh --otree6``) as the README says, and play its session.

Shared by tests/test_demo_script.py (oTree 3) and tests6/test_demo6.py
(oTree 6); no Django or oTree import, so either tier's Python can use it.
The script sets up (the venv is there already), resets the example
project's database, starts the embedded Redis, creates a session and
serves it; its participant links must open pages whose sockets play a
period, and Ctrl+C must stop the server and the embedded Redis it started.
"""
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import websockets

from otree_redwood.engine import protocol

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Output:
    """A process's stdout and stderr, read as they come."""

    def __init__(self, proc):
        self.proc = proc
        self.text = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in iter(stream.readline, ""):
            with self._lock:
                self.text += line

    def _search(self, pattern):
        with self._lock:
            return re.search(pattern, self.text)

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self._search(pattern)
            if found:
                return found
            if self.proc.poll() is not None:
                self._thread.join(5)
                found = self._search(pattern)
                if found:
                    return found
                break  # the script ended without printing it
            time.sleep(0.2)
        raise AssertionError("the demo never printed %r; it printed:\n%s" % (pattern, self.text))


def free_port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page_globals(url):
    """``window.oTree`` of the page a participant link leads to."""
    html = urllib.request.urlopen(url, timeout=30).read().decode("utf-8")
    found = re.search(r"window\.oTree = (\{.*?\});</script>", html)
    assert found, html[:2000]
    return json.loads(found.group(1))


async def recv_until(ws, predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if predicate(msg):
            return msg


async def play(base, pages):
    """Both pages' sockets: the period starts, a decision of the first reaches the second."""
    socks = []
    try:
        for page in pages:
            path = protocol.socket_path(page["appName"], page["group"]["pk"], page["participantCode"],
                                        token=page["socketToken"])
            socks.append(await websockets.connect(base + path))
        for ws in socks:
            start = await recv_until(ws, lambda m: m["channel"] == "state")
            assert start["payload"] == protocol.STATE_PERIOD_START
        mine = pages[0]["participantCode"]
        await socks[0].send(json.dumps({"channel": "decisions", "payload": 0.75}))
        seen = await recv_until(socks[1], lambda m: m["channel"] == "group_decisions"
                                and m["payload"].get(mine) == 0.75)
        assert set(seen["payload"]) == {p["participantCode"] for p in pages}
    finally:
        for ws in socks:
            await ws.close()


async def run_demo(args, redis_running):
    """Run ``scripts/demo.sh *args`` on a free port, play its session, Ctrl+C it.

    ``redis_running()``: whether the project's embedded Redis runs (a
    developer's own, running before, is left running by the script).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDWOOD_") and k != "DATABASE_URL"}
    env["PORT"] = str(port)
    ran_before = redis_running(env)
    proc = subprocess.Popen([os.path.join(ROOT, "scripts", "demo.sh")] + list(args), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out = Output(proc)
    try:
        out.wait_for(r"Demo session \w+ (\(oTree 6\) )?is ready", 300)
        links = [m.group(1) for m in re.finditer(r"participant \d+: (http://\S+)", out.text)]
        assert len(links) == 2, out.text
        deadline = time.monotonic() + 60
        while True:  # the server after the links
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, out.text
                time.sleep(0.2)
        await play("ws://127.0.0.1:%d" % port, [page_globals(link) for link in links])
        # (after the Ctrl+C, oTree's own helper process may print a
        # KeyboardInterrupt traceback if it was still starting)
        assert "Traceback" not in out.text, out.text
    finally:
        stopped = None
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # one Ctrl+C
            try:
                proc.wait(30)
                stopped = True
            except subprocess.TimeoutExpired:  # it went on serving (lifespan.ctrl_c_stops_the_server)
                stopped = False
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    assert stopped, "one Ctrl+C did not stop the demo within 30 s; it printed:\n" + out.text
    if not ran_before:
        out.wait_for(r"Stopping the embedded Redis that the demo started", 10)
    assert redis_running(env) == ran_before, out.text


def status_running(cmd, cwd, env):
    """Whether ``cmd`` (a redwood_redis / redis_cli status command) says the embedded Redis runs."""
    status = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert status.stdout.startswith("Embedded Redis: "), status.stdout + status.stderr
    return status.stdout.startswith("Embedded Redis: running")
