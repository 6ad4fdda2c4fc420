"""A 0.9.x-style app: a plain redwood Group with custom channels.

Written the way public 0.9.x experiments are: handlers that change
``event.value`` and re-broadcast it with ``send``, an emitter started in
``when_all_players_ready`` whose callback is a closure that calls
``refresh_from_db()`` and ``send``, and payoff code that reads
``group.events.filter(channel=...)``.
"""
from otree.api import BaseConstants, BasePlayer, BaseSubsession, models

from otree_redwood.models import Group as RedwoodGroup
from otree_redwood.utils import DiscreteEventEmitter


class Constants(BaseConstants):
    name_in_url = "legacy_channels"
    players_per_group = 2
    num_rounds = 1


class Subsession(BaseSubsession):
    pass


class Group(RedwoodGroup):
    ticks_sent = models.IntegerField(initial=0)

    def period_length(self):
        return self.session.config["period_length"]

    def when_all_players_ready(self):
        super().when_all_players_ready()

        def tick(current_interval, intervals):
            # 0.9.x apps reload the group: the callback runs later, elsewhere
            self.refresh_from_db()
            self.ticks_sent += 1
            self.save()
            self.send("tick", {"interval": current_interval, "intervals": intervals})

        # ticks at 1..5 s of an 8 s period (well before its end)
        emitter = DiscreteEventEmitter(1, self.period_length() - 3, self, tick)
        emitter.start()
        # a second emitter, on a bound method (0.9.x allowed one per group):
        # 2.5 intervals, so ticks at 2, 4 and 6 s
        DiscreteEventEmitter(2, self.period_length() - 3, self, self.slow_tick).start()

    def slow_tick(self, current_interval, intervals):
        self.send("slow_tick", current_interval)

    def _on_click_event(self, event=None, **kwargs):
        # 0.9.x handlers annotate the stored value and send it back out
        event.value["sender"] = event.participant.code
        event.value["count"] = self.events.filter(channel="click", participant=event.participant).count()
        event.save()
        self.send("click", event.value)

    def _on_chat_event(self, event=None, **kwargs):
        text = str(event.value)[:200]
        event.value = {"text": text, "from": event.participant.code}
        event.save()
        self.send("chat", event.value)


class Player(BasePlayer):
    clicks = models.IntegerField(initial=0)

    def set_payoff(self):
        events = self.group.events.filter(channel="click", participant=self.participant)
        self.clicks = events.count()
        self.payoff = self.clicks
