"""Look at and stop the embedded Redis of a project.

Without ``REDWOOD['REDIS_URL']`` the first process of a project that needs
Redis (a server, a bot run, the demo script) starts a ``redis-server`` daemon
on the unix socket ``.redwood/redis.sock`` of the project folder
(:func:`otree_redwood.engine.redis_conn.ensure_embedded`).  It is a daemon on
purpose: it outlives a server that is killed, so the restarted server finds
its timers and live state.  Its data (the append-only file) stays in
``.redwood/`` when it stops and is loaded again when it next starts.

``otree redwood_redis status|stop`` is built on :func:`status` and
:func:`stop`.
"""
import os
import signal
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import redis_conn


class StillInUse(RuntimeError):
    """Other clients (a server, a bot run) are connected: stopping would break them."""

    def __init__(self, info):
        super().__init__("%d other clients are connected" % info["clients"])
        self.info = info


def paths(folder=None):
    folder = os.path.abspath(folder or redis_conn.embedded_dir())
    return {
        "dir": folder,
        "socket": redis_conn.embedded_socket(folder),
        "pidfile": os.path.join(folder, "redis.pid"),
        "logfile": os.path.join(folder, "redis.log"),
    }


def _client(socket_path, timeout):
    # no retries: redis-py retries a dropped connection with backoff, and a
    # server that shuts down drops it on purpose (10 s lost per stop)
    return redis.Redis(unix_socket_path=socket_path, socket_timeout=timeout, retry=Retry(NoBackoff(), 0))


def _read_pid(pidfile):
    try:
        with open(pidfile) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_redis_server(pid):
    # a pid file outlives its process, and the number may be reused by now
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"redis-server" in f.read()
    except OSError:
        return _alive(pid)


def _disk_bytes(folder):
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def status(folder=None):
    """What runs in ``folder`` (default: this project's ``.redwood/``), as a dict.

    Keys: ``running``, ``dir``, ``socket``, ``pidfile``, ``logfile``,
    ``disk_bytes`` (size of the folder), and when running ``pid``,
    ``version``, ``uptime_seconds``, ``memory`` (human-readable),
    ``memory_bytes``, ``keys`` (in all databases) and ``clients`` (connected
    clients other than this one: servers, schedulers, bot runs).
    ``stale_socket`` is True when a socket file is left by a server that is
    gone (it is replaced when the embedded Redis next starts).
    """
    info = paths(folder)
    info.update(running=False, stale_socket=False, pid=None,
                disk_bytes=_disk_bytes(info["dir"]) if os.path.isdir(info["dir"]) else 0)
    if not os.path.exists(info["socket"]):
        return info
    client = _client(info["socket"], 2)
    try:
        server = client.info("server")
        memory = client.info("memory")
        keyspace = client.info("keyspace")
        clients = client.info("clients")
    except (redis.RedisError, OSError):
        info["stale_socket"] = True
        return info
    finally:
        client.close()
    info.update(
        running=True,
        pid=server.get("process_id"),
        version=server.get("redis_version"),
        uptime_seconds=server.get("uptime_in_seconds"),
        memory=memory.get("used_memory_human"),
        memory_bytes=memory.get("used_memory"),
        keys=sum(db.get("keys", 0) for name, db in keyspace.items() if name.startswith("db")),
        # INFO counts the connection that asks
        clients=max(0, clients.get("connected_clients", 1) - 1),
    )
    return info


def stop(folder=None, force=False, timeout=15):
    """Shut the embedded Redis down cleanly and wait until its process is gone.

    Redis writes its append-only file to disk before it exits, so nothing
    stored is lost.  Refuses (:class:`StillInUse`) while other clients are
    connected, unless ``force``: a running server of the project would lose
    its Redis.  Returns the :func:`status` from before the stop, with
    ``stopped`` True when this call stopped a server.
    """
    info = status(folder)
    info["stopped"] = False
    pid = info["pid"] or _read_pid(info["pidfile"])
    if not info["running"]:
        # the socket is dead but the process may hang on (it never answered):
        # end it only when the pid file really names a redis-server
        if info["stale_socket"] and _alive(pid) and _is_redis_server(pid):
            os.kill(pid, signal.SIGTERM)
            info["stopped"] = _wait_gone(pid, timeout)
        return info
    if info["clients"] and not force:
        raise StillInUse(info)
    client = _client(info["socket"], timeout)
    try:
        # redis-py returns once the server has closed the connection on exit
        client.shutdown()
    except redis.ResponseError:
        # it refused (it could not write the append-only file): make it go
        # anyway, as SIGTERM does, without losing more than that file lacks
        client.shutdown(nosave=True)
    finally:
        client.close()
    info["stopped"] = _wait_gone(pid, timeout)
    return info


def _wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid) or _zombie(pid):
            return True
        time.sleep(0.05)
    return False


def _zombie(pid):
    # a daemon started by this very process (tests) stays a zombie until reaped
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
