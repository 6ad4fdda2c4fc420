from django.apps import AppConfig


class RedwoodConfig(AppConfig):
    """Registers the system checks and the SQLite tuning."""

    name = "otree_redwood"
    verbose_name = "oTree Redwood"

    def ready(self):
        from . import checks  # noqa: F401  (registers the checks)
        from . import dbtuning

        dbtuning.install()
