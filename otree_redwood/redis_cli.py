"""The embedded Redis of a project, from the command line, on either oTree.

    otree redwood_redis status|stop [--force]            (oTree 3: a management command)
    python -m otree_redwood.redis_cli status|stop [--force]   (oTree 6, or anywhere)

``status`` shows whether it runs (pid, socket, data folder, memory, keys,
connected clients); ``stop`` shuts it down cleanly (its data stays in
``.redwood/`` and is loaded when it next starts).  Run it from the project
folder, as the server is run: the embedded Redis belongs to that folder.

Outside a server no host adapter reads the project's settings, so this
module reads the ``REDWOOD`` dict of the project's ``settings.py`` itself
(oTree 6's settings module is plain Python); ``REDWOOD_*`` environment
variables apply as everywhere.
"""
import argparse
import importlib
import os
import sys

from .engine import conf, embedded_redis


class CommandError(Exception):
    """A failure to report in one line (exit status 1)."""


def _size(n):
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return ("%d %s" % (n, unit)) if unit == "bytes" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def run(action, force=False, write=print, stop_hint="otree redwood_redis stop"):
    """Do ``action`` ("status" or "stop"); ``write(line)`` prints. Raises CommandError."""
    url = conf.get("REDIS_URL")
    if url:
        write("This project uses the Redis at %s (REDWOOD['REDIS_URL'] or REDWOOD_REDIS_URL): "
              "otree-redwood starts no embedded Redis for it." % url)
    if action == "status":
        _status(embedded_redis.status(), bool(url), write, stop_hint)
    else:
        _stop(force, write)


def _status(info, configured, write, stop_hint):
    if not info["running"]:
        if configured and not info["disk_bytes"]:
            return
        write("Embedded Redis: not running")
        write("  data dir  %s (%s on disk)" % (info["dir"], _size(info["disk_bytes"])))
        if info["stale_socket"]:
            write("  (a socket file is left by a redis-server that is gone; it is replaced on start)")
        if not configured:
            write("It starts by itself when a server, a bot run or the demo needs it.")
        return
    write("Embedded Redis: running")
    rows = [
        ("pid", info["pid"]),
        ("socket", info["socket"]),
        ("data dir", "%s (%s on disk)" % (info["dir"], _size(info["disk_bytes"]))),
        ("memory", info["memory"]),
        ("keys", info["keys"]),
        ("clients", "%d connected (servers, schedulers, bot runs)" % info["clients"]),
        ("uptime", "%d s" % info["uptime_seconds"]),
        ("version", "redis-server %s" % info["version"]),
        ("log", info["logfile"]),
    ]
    for label, value in rows:
        write("  %-9s %s" % (label, value))
    write("Stop it with: %s" % stop_hint)


def _stop(force, write):
    try:
        info = embedded_redis.stop(force=force)
    except embedded_redis.StillInUse as exc:
        raise CommandError(
            "Not stopped: %d other clients are connected to the embedded Redis (pid %s), "
            "a server or a bot run of this project. Stop them first, or use --force."
            % (exc.info["clients"], exc.info["pid"])
        )
    if info["stopped"]:
        write("Embedded Redis stopped (pid %s). Its data stays in %s and is loaded when it next starts."
              % (info["pid"], info["dir"]))
    elif info["running"]:
        raise CommandError("The embedded Redis (pid %s) did not exit; see %s" % (info["pid"], info["logfile"]))
    else:
        write("Embedded Redis: not running (%s)" % info["dir"])


def _project_settings():
    """The REDWOOD dict of ./settings.py, or None (no project here, or none set)."""
    if not os.path.exists("settings.py"):
        return None
    sys.path.insert(0, os.getcwd())
    try:
        return getattr(importlib.import_module("settings"), "REDWOOD", None)
    finally:
        sys.path.pop(0)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m otree_redwood.redis_cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["status", "stop"])
    parser.add_argument("--force", action="store_true",
                        help="stop it even while a server or a bot run of this project is connected")
    args = parser.parse_args(argv)
    conf.set_source(_project_settings)
    try:
        run(args.action, args.force, stop_hint="python -m otree_redwood.redis_cli stop")
    except CommandError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
