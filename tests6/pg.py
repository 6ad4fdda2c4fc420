"""A throwaway PostgreSQL cluster for the oTree 6 tests (initdb into a temporary folder).

PostgreSQL refuses to run as root, so as root the cluster belongs to the
``postgres`` system user (runuser).  Loopback only, on a free port, its unix
socket inside its own folder; stopped and removed by ``stop()``.
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile

from conftest import free_port

PG_USER = "postgres"


def bindir():
    """The folder of initdb/pg_ctl/postgres (Debian keeps them off PATH), or None."""
    found = shutil.which("initdb")
    dirs = ([os.path.dirname(found)] if found else []) + sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]), reverse=True)
    for d in dirs:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def unavailable_reason():
    if bindir() is None:
        return "PostgreSQL server binaries not found"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser"
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return "running as root without a %r user" % PG_USER
    return None


class Postgres:
    def __init__(self, dbname="otree6"):
        self.bin = bindir()
        self.dbname = dbname
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="rw-otree6-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        os.makedirs(self.sock)
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = pwd.getpwnam(PG_USER)
            for path in (self.dir, self.sock):
                os.chown(path, pw.pw_uid, pw.pw_gid)
            self.user = PG_USER
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.started = False
        try:
            self._run("initdb", "-D", self.data, "-U", self.user, "--auth=trust", "-E", "UTF8", "--locale=C")
            opts = "-c listen_addresses=127.0.0.1 -p %d -k %s" % (self.port, self.sock)
            self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-o", opts,
                      "-w", "-t", "120", "start")
            self.started = True
            conn = self.connect("postgres")
            with conn.cursor() as cur:
                cur.execute('CREATE DATABASE "%s"' % dbname)
            conn.close()
        except BaseException:
            self.stop()
            raise

    def _run(self, name, *args):
        cmd = [os.path.join(self.bin, name), *args]
        if self.as_root:
            cmd = ["runuser", "-u", PG_USER, "--", *cmd]
        r = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, timeout=300)
        if r.returncode:
            raise RuntimeError("%s failed: %s%s" % (name, r.stdout, r.stderr))

    def url(self):
        return "postgresql://%s@127.0.0.1:%d/%s" % (self.user, self.port, self.dbname)

    def connect(self, dbname=None):
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=dbname or self.dbname)
        conn.autocommit = True
        return conn

    def stop(self):
        if self.started:
            self.started = False
            try:
                self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")
            except (RuntimeError, subprocess.SubprocessError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
