"""A 0.9.x-style app whose page is a Polymer 3 element importing node_modules files.

The element (static/legacy_polymer/legacy-game.js) extends PolymerElement from
/static/otree-redwood/node_modules/, binds two-way to <redwood-decision> and
<redwood-period>, and chats on a custom channel that the group re-broadcasts
the way 0.9.x handlers do.
"""
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

    def _on_chat_event(self, event=None, **kwargs):
        # a browser may send anything: keep a short text, never fail on it
        text = str(event.value)[:200]
        self.send("chat", {"text": text, "from": event.participant.code})


class Player(BasePlayer):
    def initial_decision(self):
        return 0.5

    def final_decision(self):
        return (self.group.group_decisions or {}).get(self.participant.code)
