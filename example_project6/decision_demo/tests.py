"""Bots for ``otree test decision_demo``: the pages, without the real-time part.

The Decide page has no next button (``<redwood-period>`` submits it when the
period ends), hence ``check_html=False``.  These bots do not open the page's
socket: the period never starts and the results show no decisions.  The
real-time part is played by tests6/test_examples6.py (two sockets) and
tests6/test_browser6.py (two Chromium pages).
"""
from otree.api import Bot, Submission, expect

from . import Decide, Results


class PlayerBot(Bot):
    def play_round(self):
        expect("<redwood-decision" in self.html, True)
        yield Submission(Decide, check_html=False)
        expect('id="final-decisions"' in self.html, True)
        yield Results
