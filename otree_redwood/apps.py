from django.apps import AppConfig


class RedwoodConfig(AppConfig):
    """Installs the oTree 3 host adapter; registers the system checks, the SQLite tuning and the listen backlog."""

    name = "otree_redwood"
    verbose_name = "oTree Redwood"

    def ready(self):
        from . import checks  # noqa: F401  (registers the checks)
        from . import dbtuning, otree3_host, serverconf  # noqa: F401  (importing otree3_host installs the host)

        dbtuning.install()
        serverconf.install()
