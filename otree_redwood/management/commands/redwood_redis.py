"""``otree redwood_redis status|stop``: the embedded Redis of this project (otree_redwood/redis_cli.py).

``status`` shows whether it runs (pid, socket, data folder, memory, keys,
connected clients); ``stop`` shuts it down cleanly (its data stays in
``.redwood/`` and is loaded when it next starts).  Run it from the project
folder, as the server is run: the embedded Redis belongs to that folder.
"""
from django.core.management.base import BaseCommand, CommandError


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
        from otree_redwood import redis_cli

        try:
            redis_cli.run(action, force, write=self.stdout.write)
        except redis_cli.CommandError as exc:
            raise CommandError(str(exc))
