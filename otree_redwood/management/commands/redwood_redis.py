"""``otree redwood_redis status|stop``: the embedded Redis of this project.

``status`` shows whether it runs (pid, socket, data folder, memory, keys,
connected clients); ``stop`` shuts it down cleanly (its data stays in
``.redwood/`` and is loaded when it next starts).  Run it from the project
folder, as the server is run: the embedded Redis belongs to that folder.
"""
import sys

from django.core.management.base import BaseCommand, CommandError


def _size(n):
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return ("%d %s" % (n, unit)) if unit == "bytes" else ("%.1f %s" % (n, unit))
        n /= 1024.0


class Command(BaseCommand):
    help = (
        "Show (status) or stop (stop) the embedded Redis that otree-redwood starts in .redwood/ "
        "of the project folder when REDWOOD['REDIS_URL'] is not set."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "stop"])
        parser.add_argument(
            "--force", action="store_true",
            help="stop it even while a server or a bot run of this project is connected",
        )

    def handle(self, *args, action, force, **options):
        from otree_redwood.engine import conf, embedded_redis

        url = conf.get("REDIS_URL")
        if url:
            self.stdout.write(
                "This project uses the Redis at %s (REDWOOD['REDIS_URL'] or REDWOOD_REDIS_URL): "
                "otree-redwood starts no embedded Redis for it." % url
            )
        if action == "status":
            self._status(embedded_redis.status(), configured=bool(url))
        else:
            self._stop(embedded_redis, force)

    def _status(self, info, configured):
        if not info["running"]:
            if configured and not info["disk_bytes"]:
                return
            self.stdout.write("Embedded Redis: not running")
            self.stdout.write("  data dir  %s (%s on disk)" % (info["dir"], _size(info["disk_bytes"])))
            if info["stale_socket"]:
                self.stdout.write("  (a socket file is left by a redis-server that is gone; it is replaced on start)")
            if not configured:
                self.stdout.write("It starts by itself when a server, a bot run or the demo needs it.")
            return
        self.stdout.write("Embedded Redis: running")
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
            self.stdout.write("  %-9s %s" % (label, value))
        self.stdout.write("Stop it with: otree redwood_redis stop")

    def _stop(self, embedded_redis, force):
        try:
            info = embedded_redis.stop(force=force)
        except embedded_redis.StillInUse as exc:
            raise CommandError(
                "Not stopped: %d other clients are connected to the embedded Redis (pid %s), "
                "a server or a bot run of this project. Stop them first, or use --force."
                % (exc.info["clients"], exc.info["pid"])
            )
        if info["stopped"]:
            self.stdout.write(
                "Embedded Redis stopped (pid %s). Its data stays in %s and is loaded when it next starts."
                % (info["pid"], info["dir"])
            )
        elif info["running"]:
            raise CommandError("The embedded Redis (pid %s) did not exit; see %s" % (info["pid"], info["logfile"]))
        else:
            self.stdout.write("Embedded Redis: not running (%s)" % info["dir"])
        sys.stdout.flush()
