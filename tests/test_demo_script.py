"""The README's first command, ``./scripts/demo.sh``, run as written.

It sets up (the venv is there already), resets the example project's
database, starts the embedded Redis, creates a session and serves it; its
participant links must open pages whose sockets play a period, and Ctrl+C
must stop the server and the embedded Redis it started.  (Once, after the
engine's modules moved, the script imported one from its old place and
stopped before serving; nothing ran it.)
"""
import asyncio
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request

import pytest
import websockets

from otree_redwood.engine import protocol
from tests import harness

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Output:
    """The demo's stdout and stderr, read as they come."""

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

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = re.search(pattern, self.text)
            if found:
                return found
            if self.proc.poll() is not None:
                self._thread.join(5)
                with self._lock:
                    found = re.search(pattern, self.text)
                if found:
                    return found
                break  # the script ended without printing it
            time.sleep(0.2)
        raise AssertionError("the demo never printed %r; it printed:\n%s" % (pattern, self.text))


def _page_globals(url):
    html = urllib.request.urlopen(url, timeout=30).read().decode("utf-8")
    found = re.search(r"window\.oTree = (\{.*?\});</script>", html)
    assert found, html[:2000]
    return json.loads(found.group(1))


async def _recv_until(ws, predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if predicate(msg):
            return msg


def _embedded_redis_running(env):
    status = subprocess.run([os.path.join(ROOT, ".venv", "bin", "otree"), "redwood_redis", "status"],
                            cwd=os.path.join(ROOT, "example_project"), env=env, capture_output=True, text=True)
    assert status.stdout.startswith("Embedded Redis: "), status.stdout + status.stderr
    return status.stdout.startswith("Embedded Redis: running")


async def test_the_demo_script_serves_a_session_that_plays_and_stops_cleanly():
    port = harness.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDWOOD_") and k != "DATABASE_URL"}
    env["PORT"] = str(port)
    ran_before = _embedded_redis_running(env)  # a developer's own demo: the script leaves it running
    proc = subprocess.Popen([os.path.join(ROOT, "scripts", "demo.sh")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out = Output(proc)
    try:
        out.wait_for(r"Demo session \w+ is ready", 180)
        links = [m.group(1) for m in re.finditer(r"participant \d+: (http://\S+)", out.text)]
        assert len(links) == 2, out.text
        out.wait_for(r"Running on 127\.0\.0\.1:%d" % port, 60)
        pages = [_page_globals(link) for link in links]
        base = "ws://127.0.0.1:%d" % port
        socks = []
        for page in pages:
            path = protocol.socket_path(page["appName"], page["group"]["pk"], page["participantCode"],
                                        token=page["socketToken"])
            socks.append(await websockets.connect(base + path))
        try:
            for ws in socks:
                start = await _recv_until(ws, lambda m: m["channel"] == "state")
                assert start["payload"] == protocol.STATE_PERIOD_START
            mine = pages[0]["participantCode"]
            await socks[0].send(json.dumps({"channel": "decisions", "payload": 0.75}))
            seen = await _recv_until(socks[1], lambda m: m["channel"] == "group_decisions"
                                     and m["payload"].get(mine) == 0.75)
            assert set(seen["payload"]) == {p["participantCode"] for p in pages}
        finally:
            for ws in socks:
                await ws.close()
        # (after the Ctrl+C, oTree's own helper process may print a
        # KeyboardInterrupt traceback if it was still starting)
        assert "Traceback" not in out.text, out.text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    if not ran_before:
        out.wait_for(r"Stopping the embedded Redis that the demo started", 10)
    assert _embedded_redis_running(env) == ran_before
