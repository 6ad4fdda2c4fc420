"""Bots for ``otree test subperiod_pd``: the pages, without the real-time part.

The Decide page has no next button (``<redwood-period>`` submits it when the
period ends), hence ``check_html=False``.  Without sockets the period never
starts: no sub-period is played and the payoff is 0.  tests6/test_examples6.py
plays the sub-periods over two sockets.
"""
from otree.api import Bot, Submission, expect

from . import pages


class PlayerBot(Bot):
    def play_round(self):
        expect("Sub-period" in self.html, True)
        yield Submission(pages.Decide, check_html=False)
        expect(self.player.subperiods_played, 0)
        expect(self.player.payoff, 0)
        yield pages.Results
