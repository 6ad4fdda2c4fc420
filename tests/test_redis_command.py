"""``otree redwood_redis status|stop`` on a project's embedded Redis."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import redis

from tests import harness


@pytest.fixture
def embedded_dir(monkeypatch):
    # a short path: a unix socket path may not exceed 107 bytes
    folder = tempfile.mkdtemp(prefix="rw-cmd-")
    monkeypatch.setenv("REDWOOD_EMBEDDED_REDIS_DIR", folder)
    monkeypatch.delenv("REDWOOD_REDIS_URL", raising=False)
    yield folder
    from otree_redwood.engine import embedded_redis

    embedded_redis.stop(folder, force=True)
    shutil.rmtree(folder, ignore_errors=True)


def otree(*args, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    env["PATH"] = harness.BIN + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [os.path.join(harness.BIN, "otree")] + list(args), cwd=harness.EXAMPLE, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
    )


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def command(*args):
    """The command run in this process (quicker than ``otree``, same code)."""
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    try:
        call_command("redwood_redis", *args, stdout=out)
    except CommandError as exc:
        return Result(1, out.getvalue(), str(exc))
    return Result(0, out.getvalue(), "")


def start_embedded():
    from otree_redwood.engine import redis_conn

    url = redis_conn.ensure_embedded()
    return redis.Redis(unix_socket_path=url[len("unix://"):])


def alive(pid):
    # a zombie has exited (the daemon's parent is whatever adopted it, which
    # may reap it late)
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_status_of_a_stopped_embedded_redis(embedded_dir):
    out = otree("redwood_redis", "status")
    assert out.returncode == 0, out.stderr
    assert "Embedded Redis: not running" in out.stdout
    assert embedded_dir in out.stdout
    assert "Warning" not in out.stderr


def test_status_of_a_running_one_shows_pid_socket_memory_and_keys(embedded_dir):
    client = start_embedded()
    for i in range(3):
        client.set("test:%d" % i, "x")
    pid = int(open(os.path.join(embedded_dir, "redis.pid")).read())
    client.close()
    out = otree("redwood_redis", "status")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Embedded Redis: running"
    fields = dict(line.split(None, 1) for line in lines[1:] if line.startswith("  ") and "data dir" not in line)
    assert int(fields["pid"]) == pid
    assert fields["socket"] == os.path.join(embedded_dir, "redis.sock")
    assert int(fields["keys"]) == 3
    assert fields["memory"][0].isdigit()
    assert "data dir  %s" % embedded_dir in out.stdout
    assert "otree redwood_redis stop" in out.stdout


def test_stop_shuts_it_down_and_keeps_its_data(embedded_dir):
    client = start_embedded()
    client.set("kept", "yes")
    pid = int(open(os.path.join(embedded_dir, "redis.pid")).read())
    # a connected client (a running server) makes stop refuse without --force
    client.ping()
    out = command("stop")
    assert out.returncode != 0
    assert "Not stopped: 1 other clients are connected" in out.stderr
    assert alive(pid)
    client.close()

    out = command("stop")
    assert out.returncode == 0, out.stderr
    assert "Embedded Redis stopped (pid %d)" % pid in out.stdout
    assert not alive(pid)
    assert not os.path.exists(os.path.join(embedded_dir, "redis.sock"))
    assert "not running" in command("status").stdout
    assert "not running" in command("stop").stdout

    # durability: the next start loads what the stopped one stored
    client = start_embedded()
    assert client.get("kept") == b"yes"
    client.close()


def test_stop_with_force_while_a_client_is_connected(embedded_dir):
    client = start_embedded()
    client.ping()
    pid = int(open(os.path.join(embedded_dir, "redis.pid")).read())
    out = command("stop", "--force")
    assert out.returncode == 0, out.stderr
    assert not alive(pid)


def test_status_after_the_server_was_killed(embedded_dir):
    client = start_embedded()
    pid = int(open(os.path.join(embedded_dir, "redis.pid")).read())
    client.close()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    out = command("status")
    assert "Embedded Redis: not running" in out.stdout
    assert "socket file is left" in out.stdout


def test_a_configured_redis_url_is_named(embedded_dir, redis_server, monkeypatch):
    monkeypatch.setenv("REDWOOD_REDIS_URL", redis_server.url(3))
    out = command("status")
    assert out.returncode == 0, out.stderr
    assert "uses the Redis at %s" % redis_server.url(3) in out.stdout
    assert "Embedded Redis" not in out.stdout


def test_a_project_folder_too_deep_for_a_unix_socket_still_gets_its_redis(monkeypatch):
    """A socket path over ~107 bytes cannot be bound: the socket moves to the temp folder."""
    from otree_redwood.engine import embedded_redis, redis_conn

    top = tempfile.mkdtemp(prefix="rw-deep-")
    folder = os.path.join(top, *(["a-rather-long-folder-name"] * 5), ".redwood")
    assert len(os.path.join(folder, "redis.sock")) > 108
    monkeypatch.setenv("REDWOOD_EMBEDDED_REDIS_DIR", folder)
    monkeypatch.delenv("REDWOOD_REDIS_URL", raising=False)
    try:
        client = start_embedded()
        assert client.ping()
        client.set("k", "v")
        sock = redis_conn.embedded_socket(folder)
        assert len(sock) <= 100 and not sock.startswith(folder)
        # its data and log stay in the project's folder; status finds it
        assert os.path.exists(os.path.join(folder, "redis.log"))
        result = command("status")
        assert result.returncode == 0 and sock in result.stdout, result.stdout
    finally:
        embedded_redis.stop(folder, force=True)
        shutil.rmtree(top, ignore_errors=True)
