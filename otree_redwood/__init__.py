"""otree-redwood: real-time interaction for oTree 3 experiments."""

__version__ = "1.0.0"

default_app_config = "otree_redwood.apps.RedwoodConfig"
