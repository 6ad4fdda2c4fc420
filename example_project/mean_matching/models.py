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

from .payoffs import MATRIX, mixed_equilibrium, time_weighted_payoffs

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
        start, end = self.get_start_time(), self.get_end_time()
        players = self.get_players()
        if start is None or end is None:
            for p in players:
                p.payoff = 0
            return
        history = [(e.timestamp, e.value) for e in self.get_group_decisions_events()]
        codes = [p.participant.code for p in players]
        result = time_weighted_payoffs(history, start, end, codes)
        for p in players:
            r = result[p.participant.code]
            p.payoff = r["payoff"]
            p.hawk = r["hawk"]


class Player(BasePlayer):
    #: Time-weighted average share of Hawk over the period.
    hawk = models.FloatField()

    def initial_decision(self):
        return float(self.session.config.get("initial_decision", 0.5))
