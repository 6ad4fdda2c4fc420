"""A 0.9.x-style app whose page is a Polymer 3 element importing node_modules files."""
from otree.api import BaseConstants, BasePlayer, BaseSubsession

from otree_redwood.models import DecisionGroup


class Constants(BaseConstants):
    name_in_url = "legacy_polymer"
    players_per_group = 2
    num_rounds = 1


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    def period_length(self):
        return self.session.config["period_length"]


class Player(BasePlayer):
    def initial_decision(self):
        return 0.5
