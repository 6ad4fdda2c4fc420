from otree.api import Bot

from otree_redwood.bots import after_period, play_realtime

from . import pages


class PlayerBot(Bot):
    def play_round(self):
        # each member moves its slider to random values, a few times a second;
        # the "benchmark" config has no period end: play 2 seconds of it
        timed = bool(self.group.period_length())
        play_realtime(self, lambda s: round(s.rng.random(), 2), rate=4, duration=None if timed else 2)
        yield after_period(pages.Decide)
        yield pages.Results
