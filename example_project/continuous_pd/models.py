"""Continuous-time prisoner's dilemma on DecisionGroup.

Two players choose, at any moment, to cooperate or to defect (the decision is
the probability of cooperating, 0..1).  Each sees the other's choice at once.
The period lasts ``period_length`` seconds (session config, default 60); the
payoff is the time-weighted average of the flow payoffs of ``payoffs.MATRIX``
over the period, computed from the stored history of the group's decisions
by ``otree_redwood.payoffs.flow_payoffs``.
"""
from otree.api import BaseConstants, BasePlayer, BaseSubsession, models

from otree_redwood.bots import is_bot_session
from otree_redwood.models import DecisionGroup
from otree_redwood.payoffs import flow_payoffs

from .payoffs import MATRIX, flow_payoff, own_decision

doc = __doc__


class Constants(BaseConstants):
    name_in_url = "continuous_pd"
    players_per_group = 2
    num_rounds = 1
    default_period_length = 60
    matrix = MATRIX


def configured_period_length(session):
    """``period_length`` of the session config; ``bot_period_length`` for bots.

    ``otree test`` marks its participants as bots: they play a short period
    so that the test takes seconds, not minutes.
    """
    config = session.config
    if is_bot_session(session):
        return config.get("bot_period_length", 3)
    return config.get("period_length", Constants.default_period_length)


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    def period_length(self):
        return configured_period_length(self.session)

    def set_payoffs(self):
        # points per second, averaged over the period (0 if it never ran)
        payoffs = flow_payoffs(self, flow_payoff, average=True)
        cooperation = flow_payoffs(self, own_decision, average=True)
        started = self.get_start_time() is not None
        for p in self.get_players():
            p.payoff = payoffs[p.participant.code]
            p.cooperation = cooperation[p.participant.code] if started else None


class Player(BasePlayer):
    #: Share of the period spent cooperating (time-weighted), 0..1.
    cooperation = models.FloatField()

    def initial_decision(self):
        return float(self.session.config.get("initial_decision", 1.0))
