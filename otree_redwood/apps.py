from django.apps import AppConfig


class RedwoodConfig(AppConfig):
    """Installs the oTree 3 host adapter; registers the system checks and the SQLite tuning."""

    name = "otree_redwood"
    verbose_name = "oTree Redwood"

    def ready(self):
        from . import checks  # noqa: F401  (registers the checks)
        from . import dbtuning, otree3_host  # noqa: F401  (importing it installs the host)

        dbtuning.install()
