"""Scale-out harness: a throwaway PostgreSQL and an nginx in front of servers.

Next to ``tests/harness.py`` (Redis, SQLite, ``otree prodserver``), these
start the other two pieces of the deployment in docs/deployment.rst, for the
scale-out test (tests/test_scaleout.py) and ``benchmarks/loadgen.py
--postgres --nginx``:

* :class:`PostgresServer`: ``initdb`` into a temporary folder, ``postgres``
  on 127.0.0.1 and a free port (PostgreSQL's defaults otherwise: fsync and
  synchronous commits on), trust authentication on loopback, one database;
* :class:`NginxProxy`: nginx as a foreground subprocess, round robin over the
  given server ports, with the WebSocket configuration of the docs and an
  ``X-Upstream`` response header that names the server which answered (also
  on the ``101 Switching Protocols`` of a WebSocket handshake).

It is also a small command line for code that must run Django on the
PostgreSQL database (the pytest process is configured on SQLite)::

    DATABASE_URL=postgres://... python -m tests.pgnginx session subperiod_pd 2 period_length=3
    DATABASE_URL=postgres://... python -m tests.pgnginx events <session code>

Both print JSON.
"""
import atexit
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from tests import harness

PG_USER = "postgres"  # the system user that runs PostgreSQL when we are root


def _stop_at_exit(obj):
    """Call ``obj.stop()`` when this process exits (not in a forked child)."""
    owner = os.getpid()

    def stop():
        if os.getpid() == owner:
            obj.stop()

    atexit.register(stop)


def children(pid):
    """Pids of the direct children of ``pid`` (from /proc)."""
    return [child for child, fields in harness.proc_stats() if int(fields[1]) == pid]


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------

def pg_bindir():
    """Folder of initdb/pg_ctl/postgres, or None."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 timeout=10).stdout.decode().strip()
            if out:
                candidates.append(out)
        except (OSError, subprocess.SubprocessError):
            pass

    def version(path):
        m = re.search(r"/postgresql/(\d+)/", path)
        return int(m.group(1)) if m else 0

    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(os.path.dirname(initdb))
    for d in candidates:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def _as_pg_user():
    return os.geteuid() == 0


def available():
    """(True, "") when a PostgreSQL server can be started here, else (False, reason)."""
    if pg_bindir() is None:
        return False, "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return False, "psycopg2 is not installed (pip install psycopg2-binary)"
    if _as_pg_user():
        if shutil.which("runuser") is None:
            return False, "running as root and runuser (util-linux) is missing"
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return False, "running as root and there is no %r system user to run PostgreSQL" % PG_USER
    return True, ""


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port."""

    available = staticmethod(available)

    def __init__(self, dbname="redwood", max_connections=200, start=True):
        self.bindir = pg_bindir()
        if self.bindir is None:
            raise RuntimeError(available()[1])
        self.dbname = dbname
        self.max_connections = max_connections
        self.port = harness.free_port()
        self.dir = tempfile.mkdtemp(prefix="redwood-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sockdir = os.path.join(self.dir, "sock")
        self.log_path = os.path.join(self.dir, "postgres.log")
        os.makedirs(self.sockdir)
        if _as_pg_user():
            # postgres refuses to run as root: the cluster belongs to PG_USER
            pw = pwd.getpwnam(PG_USER)
            for path in (self.dir, self.sockdir):
                os.chown(path, pw.pw_uid, pw.pw_gid)
            self.user = PG_USER
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.started = False
        _stop_at_exit(self)  # no cluster left running if the caller forgets
        if start:
            try:
                self.start()
            except BaseException:
                self.stop()
                raise

    def _cmd(self, name, *args):
        cmd = [os.path.join(self.bindir, name)] + list(args)
        if _as_pg_user():
            cmd = ["runuser", "-u", PG_USER, "--"] + cmd
        return cmd

    def _run(self, name, *args, timeout=120):
        proc = subprocess.run(self._cmd(name, *args), cwd=self.dir, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s\n%s" % (name, proc.returncode,
                                                          proc.stdout.decode("utf-8", "replace"), self.read_log()))
        return proc.stdout.decode("utf-8", "replace")

    def start(self):
        self._run("initdb", "-D", self.data, "-U", self.user, "--auth=trust", "-E", "UTF8", "--locale=C")
        # PostgreSQL defaults (fsync, synchronous_commit, ...) except the
        # number of connections (each server process keeps a few) and the
        # addresses: loopback only, the unix socket inside our folder.
        opts = "-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=%d" % (
            self.port, self.sockdir, self.max_connections)
        self._run("pg_ctl", "-D", self.data, "-l", self.log_path, "-o", opts, "-w", "-t", "60", "start")
        self.started = True
        if os.path.exists(os.path.join(self.bindir, "createdb")):
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.dbname)
        else:
            self._createdb_psycopg2()
        return self

    def _createdb_psycopg2(self):
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute('CREATE DATABASE "%s"' % self.dbname)
        conn.close()

    def url(self):
        return "postgres://%s@127.0.0.1:%d/%s" % (self.user, self.port, self.dbname)

    def connect(self):
        """A psycopg2 connection (autocommit) to the database."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=self.dbname)
        conn.autocommit = True
        return conn

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def pids(self):
        """The postmaster and its children (backends, checkpointer, WAL writer...)."""
        root = self.postmaster_pid()
        return [root] + children(root) if root is not None else []

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.started:
            self.started = False
            try:
                self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop", timeout=60)
            except (RuntimeError, subprocess.SubprocessError):
                pid = self.postmaster_pid()
                if pid:
                    try:
                        os.kill(pid, signal.SIGQUIT)
                    except ProcessLookupError:
                        pass
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# nginx
# ---------------------------------------------------------------------------

def nginx_binary():
    found = shutil.which("nginx")
    if found:
        return found
    for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(path, os.X_OK):
            return path
    return None


def _nginx_build(binary):
    """(version tuple, configure arguments) from ``nginx -V``."""
    out = subprocess.run([binary, "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10).stdout
    text = out.decode("utf-8", "replace")
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", text)
    version = tuple(int(x) for x in m.groups()) if m else (0, 0, 0)
    return version, text


def available_nginx():
    binary = nginx_binary()
    if binary is None:
        return False, "nginx not found (apt-get install nginx-light)"
    try:
        _nginx_build(binary)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, "nginx -V failed: %r" % (exc,)
    return True, ""


NGINX_CONF = """\
# written by tests/pgnginx.py: the nginx configuration of docs/deployment.rst,
# with every path inside {dir} and nginx in the foreground
{user}worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 10000;
}}

http {{
    log_format upstream '$remote_addr [$time_local] "$request" $status upstream=$upstream_addr';
    access_log {dir}/access.log upstream;
{temp_paths}
    upstream otree {{
        # plain round robin: no ip_hash, no sticky cookie needed
{servers}
    }}

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;

        client_max_body_size 20m;

        location / {{
            proxy_pass http://otree;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # a WebSocket may be quiet for a while between pings
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            # which server process answered (also on a WebSocket's 101)
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


class NginxProxy(harness.Loopback):
    """nginx on a free loopback port, round robin over ``server_ports``."""

    available = staticmethod(available_nginx)

    def __init__(self, server_ports, start=True):
        self.binary = nginx_binary()
        if self.binary is None:
            raise RuntimeError(available_nginx()[1])
        self.server_ports = list(server_ports)
        self.port = harness.free_port()
        self.dir = tempfile.mkdtemp(prefix="redwood-nginx-")
        self.conf_path = os.path.join(self.dir, "nginx.conf")
        self.proc = None
        self.version, build = _nginx_build(self.binary)
        temp = ["client_body", "proxy"]
        for module in ("fastcgi", "uwsgi", "scgi"):
            if "--without-http_%s_module" % module not in build:
                temp.append(module)
        temp_paths = "".join("    %s_temp_path %s/%s;\n" % (name, self.dir, name) for name in temp)
        # as root, nginx's workers would run as "nobody", which cannot use
        # our private folder
        user = "user root root;\n" if os.geteuid() == 0 else ""
        with open(self.conf_path, "w") as f:
            f.write(NGINX_CONF.format(
                dir=self.dir, user=user, temp_paths=temp_paths, port=self.port,
                servers="\n".join("        server 127.0.0.1:%d;" % p for p in self.server_ports),
            ))
        _stop_at_exit(self)
        if start:
            try:
                self.start()
            except BaseException:
                self.stop()
                raise

    def start(self, timeout=20):
        cmd = [self.binary, "-p", self.dir + "/", "-c", self.conf_path]
        if self.version >= (1, 19, 5):
            cmd += ["-e", os.path.join(self.dir, "error.log")]  # not the system's log, even at start-up
        test = subprocess.run(cmd + ["-t", "-q"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        if test.returncode != 0:
            raise RuntimeError("nginx -t failed:\n" + test.stdout.decode("utf-8", "replace"))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited; error log:\n" + self.read_log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start; error log:\n" + self.read_log())

    def pids(self):
        """nginx's master and its worker."""
        return [self.proc.pid] + children(self.proc.pid) if self.proc else []

    def read_log(self, name="error.log"):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.terminate()  # fast shutdown (closes the WebSockets)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def upstream_of(ws):
    """The ``X-Upstream`` header of a websockets client connection ("127.0.0.1:8001")."""
    headers = getattr(ws, "response_headers", None)  # websockets' legacy client (<= 13)
    if headers is None:
        response = getattr(ws, "response", None)
        headers = getattr(response, "headers", None)
    if headers is None:
        return None
    return headers.get("X-Upstream")


# ---------------------------------------------------------------------------
# Django on DATABASE_URL (for subprocesses and benchmarks)
# ---------------------------------------------------------------------------

def configure_django_url(database_url):
    """Configure Django as oTree does, on ``database_url`` (e.g. PostgreSQL)."""
    os.environ["DATABASE_URL"] = database_url
    if harness.EXAMPLE not in sys.path:
        sys.path.insert(0, harness.EXAMPLE)
    from django.conf import settings

    if settings.configured:
        return
    from otree_startup import configure_settings

    configure_settings("settings")
    import django

    django.setup()


def resetdb(database_url, timeout=180):
    """``otree resetdb --noinput`` of the example project on ``database_url``."""
    env = dict(os.environ, DATABASE_URL=database_url, PATH=harness.BIN + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([os.path.join(harness.BIN, "otree"), "resetdb", "--noinput"], cwd=harness.EXAMPLE,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("otree resetdb failed:\n" + proc.stdout.decode("utf-8", "replace")[-3000:])


def run_cli(database_url, *args, timeout=120):
    """Run this module's command line on ``database_url``; its JSON output."""
    env = dict(os.environ, DATABASE_URL=database_url)
    proc = subprocess.run([sys.executable, "-m", "tests.pgnginx"] + [str(a) for a in args], cwd=harness.ROOT,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("tests.pgnginx %s failed:\n%s" % (" ".join(map(str, args)),
                                                           proc.stderr.decode("utf-8", "replace")[-3000:]))
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def _cli_session(config_name, n, fields):
    session = harness.create_session(config_name, n, **fields)
    app = session.config["app_sequence"][0]
    groups = []
    for gpk, codes in harness.group_members(session, app):
        groups.append({
            "pk": gpk, "codes": codes,
            "paths": {code: harness.socket_path(app, gpk, code) for code in codes},
        })
    return {"session": session.code, "app": app, "groups": groups}


def _cli_events(session_code):
    """Event counts by (group pk, channel, value of state events) of a session's round-1 groups."""
    from django.apps import apps
    from django.db.models import Count

    from otree.models import Session

    session = Session.objects.get(code=session_code)
    app = session.config["app_sequence"][0]
    Group = apps.get_app_config(app).get_model("Group")
    out = {}
    for g in Group.objects.filter(session=session, round_number=1):
        rows = g.events.order_by().values("channel").annotate(n=Count("id"))
        counts = {r["channel"]: r["n"] for r in rows}
        states = [e.value for e in g.events.filter(channel="state").order_by("timestamp", "id")]
        seqs = list(g.events.filter(channel="group_decisions").order_by("seq").values_list("seq", flat=True))
        out[str(g.pk)] = {"counts": counts, "states": states, "group_decisions_seqs": seqs}
    return out


def _field_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    url = os.environ.get("DATABASE_URL")
    if not url or not argv:
        sys.exit("usage: DATABASE_URL=... python -m tests.pgnginx session CONFIG N [field=value ...] | events CODE")
    configure_django_url(url)
    if argv[0] == "session":
        fields = dict((k, _field_value(v)) for k, v in (a.split("=", 1) for a in argv[3:]))
        out = _cli_session(argv[1], int(argv[2]), fields)
    elif argv[0] == "events":
        out = _cli_events(argv[1])
    else:
        sys.exit("unknown command %r" % argv[0])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
