"""The prisoner's dilemma of continuous_pd, played in discrete sub-periods.

``num_subperiods()`` (session config ``num_subperiods``, default 10) splits
the period in equal sub-periods.  Players may change their choice at any
time, but only the choice that stands when a sub-period ends counts: the
server broadcasts the group's decisions once per sub-period (and copies
them into ``subperiod_group_decisions``).  The payoff is the average over the
sub-periods of the matrix cell the pair was in.
"""
from otree.api import BaseConstants, BasePlayer, BaseSubsession, models

from otree_redwood.bots import is_bot_session
from otree_redwood.models import DecisionGroup
from otree_redwood.payoffs import flow_payoffs, group_series

from .payoffs import MATRIX, flow_payoff, own_decision

doc = __doc__


class Constants(BaseConstants):
    name_in_url = "subperiod_pd"
    players_per_group = 2
    num_rounds = 1
    default_period_length = 60
    default_num_subperiods = 10
    matrix = MATRIX


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    def period_length(self):
        config = self.session.config
        if is_bot_session(self.session):
            return config.get("bot_period_length", 3)
        return config.get("period_length", Constants.default_period_length)

    def num_subperiods(self):
        return self.session.config.get("num_subperiods", Constants.default_num_subperiods)

    def subperiod_history(self):
        """The maps that closed each sub-period, oldest first ([] before the period)."""
        series = group_series(self)
        return [decisions for _, decisions in series.steps] if series is not None else []

    def set_payoffs(self):
        # each sub-period's map counts for its sub-period: the time average
        # is the mean over the sub-periods
        payoffs = flow_payoffs(self, flow_payoff, average=True)
        cooperation = flow_payoffs(self, own_decision, average=True)
        played = len(self.subperiod_history())
        for p in self.get_players():
            p.payoff = payoffs[p.participant.code]
            p.cooperation = cooperation[p.participant.code] if played else None
            p.subperiods_played = played


class Player(BasePlayer):
    #: Share of the sub-periods in which the player cooperated.
    cooperation = models.FloatField()
    #: Number of sub-periods that counted for the payoff.
    subperiods_played = models.IntegerField()

    def initial_decision(self):
        return float(self.session.config.get("initial_decision", 1.0))
