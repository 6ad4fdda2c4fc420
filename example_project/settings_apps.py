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
]
