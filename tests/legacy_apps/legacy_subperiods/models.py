"""A 0.9.x-style DecisionGroup with sub-periods and a rate limit.

Payoff code reads get_group_decisions_events() and subperiod_group_decisions
the way 0.9.x experiments do.
"""
from otree.api import BaseConstants, BasePlayer, BaseSubsession, models

from otree_redwood.models import DecisionGroup


class Constants(BaseConstants):
    name_in_url = "legacy_subperiods"
    players_per_group = 2
    num_rounds = 1


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    def period_length(self):
        return self.session.config["period_length"]

    def num_subperiods(self):
        return self.session.config.get("num_subperiods")

    def rate_limit(self):
        return 0.5

    # 0.9.x apps override the sub-period hook to act at each sub-period end
    ticks_seen = models.IntegerField(initial=0)

    def _subperiod_tick(self, current_interval, intervals):
        super()._subperiod_tick(current_interval, intervals)
        self.ticks_seen += 1
        self.save()
        self.send("subperiod_done", {"interval": current_interval, "intervals": intervals,
                                     "map": self.subperiod_group_decisions})


class Player(BasePlayer):
    subperiods_seen = models.IntegerField(initial=0)

    def initial_decision(self):
        return 0

    def set_payoff(self):
        events = self.group.get_group_decisions_events()
        self.subperiods_seen = len(events)
        total = 0
        for e in events:
            total += float(e.value.get(self.participant.code) or 0)
        self.payoff = total
