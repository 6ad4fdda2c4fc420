"""Comparison app: a DecisionGroup whose mode comes from the session config.

The same file runs on otree-redwood 0.9.4 and on ours (only the public
0.9.x API is used).
"""
from otree.api import BaseConstants, BasePlayer, BaseSubsession

from otree_redwood.models import DecisionGroup


class Constants(BaseConstants):
    name_in_url = "cmpapp"
    players_per_group = 2
    num_rounds = 1


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    def period_length(self):
        return self.session.config.get("period_length", 4)

    def num_subperiods(self):
        return self.session.config.get("num_subperiods")

    def rate_limit(self):
        return self.session.config.get("rate_limit")


class Player(BasePlayer):
    def initial_decision(self):
        # distinct per member, so a map shows whose value is whose
        return round(0.11 * self.id_in_group, 2)
