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

from .payoffs import MATRIX, subperiod_maps, subperiod_payoffs

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
        """The maps that closed each sub-period (see payoffs.subperiod_maps)."""
        start, end = self.get_start_time(), self.get_end_time()
        if start is None or end is None:
            return []
        history = [(e.timestamp, e.value) for e in self.get_group_decisions_events()]
        return subperiod_maps(history, start, end, self.num_subperiods(), self.period_length())

    def set_payoffs(self):
        players = self.get_players()
        codes = [p.participant.code for p in players]
        result = subperiod_payoffs(self.subperiod_history(), codes)
        for p in players:
            r = result[p.participant.code]
            p.payoff = r["payoff"]
            p.cooperation = r["cooperation"]
            p.subperiods_played = len(r["points"])


class Player(BasePlayer):
    #: Share of the sub-periods in which the player cooperated.
    cooperation = models.FloatField()
    #: Number of sub-periods that counted for the payoff.
    subperiods_played = models.IntegerField()

    def initial_decision(self):
        return float(self.session.config.get("initial_decision", 1.0))
