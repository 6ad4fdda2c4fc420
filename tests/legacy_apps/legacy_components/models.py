"""A 0.9.x-style DecisionGroup for the components test (tests/test_components_browser.py).

Its page is a Polymer 3 element that uses the 0.9.x components the way public
experiments do: two-way bindings to <redwood-decision>, <redwood-period> and
<otree-constants>, and a <redwood-channel> with on-event in its shadow DOM.
"""
from otree.api import BaseConstants, BasePlayer, BaseSubsession

from otree_redwood.models import DecisionGroup


class Constants(BaseConstants):
    name_in_url = "legacy_components"
    players_per_group = 2
    num_rounds = 1


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    def period_length(self):
        return self.session.config["period_length"]

    def _on_chat_event(self, event):
        # 0.9.x style: re-broadcast what a member said, with who said it
        self.send("chat", {"from": event.participant.code, "text": event.value})


class Player(BasePlayer):
    def initial_decision(self):
        return 0.5
