"""Two players each hold a number in [0, 1] and see each other's at once.

The oTree 6 port of example_project/decision_demo, in oTree 6's single-file
app format: the Group is otree-redwood's DecisionGroup; the hooks
(``period_length``, ``initial_decision``) are module-level functions, as
oTree 6 writes its own; the page's template and JavaScript are the oTree 3
ones in oTree 6's template syntax (docs/otree6.rst shows the port line by
line).
"""
# ruff: noqa: F403, F405  (the star import is oTree 6's own style: otree startapp writes it)
from otree.api import *

from otree_redwood.otree6.bases import DecisionGroup

doc = "A minimal continuous-time game: each player moves a slider; the group sees every move."


class C(BaseConstants):
    NAME_IN_URL = "decision_demo"
    PLAYERS_PER_GROUP = 2
    NUM_ROUNDS = 1
    DEFAULT_PERIOD_LENGTH = 60


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    pass


class Player(BasePlayer):
    pass


def period_length(group: Group):
    from otree_redwood.otree6.bots import is_bot_session

    if is_bot_session(group.session):
        # `otree test` bots play a short period
        return group.session.config.get("bot_period_length", 3)
    length = group.session.config.get("period_length", C.DEFAULT_PERIOD_LENGTH)
    return length or None


def post_round_delay(group: Group):
    # seconds between period_end and the move to the results page
    return group.session.config.get("post_round_delay", 1)


def initial_decision(player: Player):
    return 0.5


# PAGES
class Decide(Page):
    pass


class Results(Page):
    @staticmethod
    def vars_for_template(player: Player):
        # NULL until the period started: oTree 6 raises on reading a NULL field
        decisions = player.group.field_maybe_none("group_decisions") or {}
        final = []
        for p in player.group.get_players():
            value = decisions.get(p.participant.code)
            final.append(dict(
                code=p.participant.code,
                who="You" if p.id_in_group == player.id_in_group else "Player %d" % p.id_in_group,
                decision="\u2013" if value is None else "%.2f" % float(value),
            ))
        return dict(final=final)


page_sequence = [Decide, Results]
