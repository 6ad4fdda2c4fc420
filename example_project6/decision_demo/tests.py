"""Bots for ``otree test decision_demo``: the real-time period, then the results.

``play_realtime`` plays the group's period over the page's socket (each
member moves its slider to random values a few times a second; bots get a
3-second period, see ``period_length``), then every bot submits the Decide
page as ``<redwood-period>`` would when the period ends.
"""
from otree.api import Bot, expect

from otree_redwood.otree6.bots import after_period, play_realtime

from . import Decide, Results


class PlayerBot(Bot):
    def play_round(self):
        expect("<redwood-decision" in self.html, True)
        state = play_realtime(self, lambda s: round(s.rng.random(), 2), rate=4)
        expect(state.ended, True)
        # what this member last sent is its decision in the group's final map
        sent = [payload for channel, payload in state.sent if channel == "decisions"]
        expect(self.group.group_decisions[self.participant.code], sent[-1] if sent else 0.5)
        yield after_period(Decide)
        expect('id="final-decisions"' in self.html, True)
        yield Results
