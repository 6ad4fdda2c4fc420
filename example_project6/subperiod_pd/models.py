"""The prisoner's dilemma in discrete sub-periods, on oTree 6.

The oTree 6 port of example_project/subperiod_pd, kept in the
models.py/pages.py format that oTree 6 still runs (``Constants``, methods
taking ``self``): the only changes are the import of the bases and oTree 6's
own rules (nullable fields read with ``field_maybe_none``; ``Group.events`` is
a list).

``num_subperiods()`` (session config ``num_subperiods``, default 10) splits
the period in equal sub-periods.  Players may change their choice at any
time, but only the choice that stands when a sub-period ends counts: the
server broadcasts the group's decisions once per sub-period (and copies them
into ``subperiod_group_decisions``).  The payoff is the average over the
sub-periods of the matrix cell the pair was in.
"""
from otree.api import BaseConstants, BasePlayer, BaseSubsession, models

from otree_redwood.otree6.bases import DecisionGroup
from otree_redwood.payoffs import group_series, integrate

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
        return self.session.config.get("period_length", Constants.default_period_length)

    def num_subperiods(self):
        return self.session.config.get("num_subperiods", Constants.default_num_subperiods)

    def series(self):
        """The period's maps on the server's clock, or None if it never started."""
        return group_series(self)

    def subperiod_history(self):
        """The maps that closed each sub-period, oldest first ([] before the period)."""
        series = self.series()
        return [decisions for _, decisions in series.steps] if series is not None else []

    def set_payoffs(self):
        # each sub-period's map counts for its sub-period: the time average
        # is the mean over the sub-periods
        series = self.series()
        codes = [p.participant.code for p in self.get_players()]
        played = len(series.steps) if series is not None else 0
        payoffs = integrate(series, flow_payoff, codes, average=True) if played else {}
        cooperation = integrate(series, own_decision, codes, average=True) if played else {}
        for p in self.get_players():
            p.payoff = payoffs.get(p.participant.code, 0)
            p.cooperation = cooperation.get(p.participant.code)
            p.subperiods_played = played


class Player(BasePlayer):
    #: Share of the sub-periods in which the player cooperated.
    cooperation = models.FloatField()
    #: Number of sub-periods that counted for the payoff.
    subperiods_played = models.IntegerField()

    def initial_decision(self):
        return float(self.session.config.get("initial_decision", 1.0))
