"""Session configs of the "0.9.x apps" of the test suite.

These apps are written the way public otree-redwood 0.9.x experiments are
(Group with custom handlers, emitters, views.py output tables, Polymer 3
pages importing /static/otree-redwood/node_modules/...).  They are not
examples: the example project loads them only when REDWOOD_TEST_APPS is set
(tests/harness.py sets it for the test process and its servers).
"""

LEGACY_SESSION_CONFIGS = [
    dict(
        name="legacy_channels",
        display_name="0.9.x style: Group with custom channels and an emitter",
        num_demo_participants=2,
        app_sequence=["legacy_channels"],
        period_length=8,
    ),
    dict(
        name="legacy_subperiods",
        display_name="0.9.x style: DecisionGroup with sub-periods and a rate limit",
        num_demo_participants=2,
        app_sequence=["legacy_subperiods"],
        period_length=4,
        num_subperiods=4,
    ),
    dict(
        name="legacy_polymer",
        display_name="0.9.x style: Polymer 3 page importing node_modules elements",
        num_demo_participants=2,
        app_sequence=["legacy_polymer"],
        period_length=5,
    ),
    dict(
        name="legacy_components",
        display_name="0.9.x style: Polymer 3 element bound to every component",
        num_demo_participants=2,
        app_sequence=["legacy_components"],
        period_length=60,
    ),
]
