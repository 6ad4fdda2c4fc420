"""Session configs of the example apps (imported by settings.py).

``period_length`` is what participants get; ``bot_period_length`` is the
period that ``otree test`` bots play (see otree_redwood.bots), kept short so
that ``otree test <name>`` takes seconds.
"""

REDWOOD_EXAMPLE_SESSION_CONFIGS = [
    dict(
        name="continuous_pd",
        display_name="Continuous-time prisoner's dilemma (2 players)",
        num_demo_participants=2,
        app_sequence=["continuous_pd"],
        period_length=60,
        bot_period_length=3,
        initial_decision=1.0,
    ),
    dict(
        name="subperiod_pd",
        display_name="Prisoner's dilemma in 10 discrete sub-periods (2 players)",
        num_demo_participants=2,
        app_sequence=["subperiod_pd"],
        period_length=60,
        num_subperiods=10,
        bot_period_length=3,
        initial_decision=1.0,
    ),
    dict(
        name="mean_matching",
        display_name="Hawk-dove with mean matching: 4 players, rate-limited broadcasts",
        num_demo_participants=4,
        app_sequence=["mean_matching"],
        group_size=4,
        period_length=60,
        rate_limit=0.2,
        bot_period_length=3,
        initial_decision=0.5,
    ),
    dict(
        name="double_auction",
        display_name="Continuous double auction: 2 buyers, 2 sellers on custom channels",
        num_demo_participants=4,
        app_sequence=["double_auction"],
        group_size=4,
        period_length=120,
        units_per_trader=3,
        bot_period_length=4,
    ),
]
