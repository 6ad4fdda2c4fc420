"""Hawk-dove with mean matching in a large group, under a rate limit.

Groups of ``group_size`` players (session config, default 4; 4-8 work well)
each set a share of Hawk with a slider; a player's partner is the mean of
all the others.  Many players moving sliders make many decisions, so the
server broadcasts the group's decisions at most once per ``rate_limit()``
seconds (session config ``rate_limit``, default 0.2): what changed in
between is sent with the next broadcast, never lost.
"""
from otree.api import BaseConstants, BasePlayer, BaseSubsession, models

from otree_redwood.bots import is_bot_session
from otree_redwood.models import DecisionGroup
from otree_redwood.payoffs import flow_payoffs

from .payoffs import MATRIX, flow_against_others, mixed_equilibrium

doc = __doc__


class Constants(BaseConstants):
    name_in_url = "mean_matching"
    players_per_group = None
    num_rounds = 1
    default_group_size = 4
    default_period_length = 60
    default_rate_limit = 0.2
    matrix = MATRIX
    equilibrium = mixed_equilibrium(MATRIX)


class Subsession(BaseSubsession):
    def creating_session(self):
        size = self.session.config.get("group_size", Constants.default_group_size)
        players = self.get_players()
        self.set_group_matrix([players[i:i + size] for i in range(0, len(players), size)])


class Group(DecisionGroup):
    def period_length(self):
        config = self.session.config
        if is_bot_session(self.session):
            return config.get("bot_period_length", 3)
        return config.get("period_length", Constants.default_period_length)

    def rate_limit(self):
        return self.session.config.get("rate_limit", Constants.default_rate_limit)

    def set_payoffs(self):
        # points per second against the mean of the others, averaged over the period
        payoffs = flow_payoffs(self, flow_against_others, average=True)
        hawk = flow_payoffs(self, lambda mine, others: mine, average=True)
        started = self.get_start_time() is not None
        for p in self.get_players():
            p.payoff = payoffs[p.participant.code]
            p.hawk = hawk[p.participant.code] if started else None


class Player(BasePlayer):
    #: Time-weighted average share of Hawk over the period.
    hawk = models.FloatField()

    def initial_decision(self):
        return float(self.session.config.get("initial_decision", 0.5))
