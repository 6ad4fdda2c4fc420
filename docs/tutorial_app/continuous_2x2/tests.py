"""Bots for ``otree test continuous_2x2``: the real-time page played over its socket."""
from otree.api import Bot, expect

from otree_redwood.bots import after_period, play_realtime

from . import pages


def strategy(state):
    """Called a few times a second for each member while the period runs.

    Return a decision to send it on the ``decisions`` channel, or None to
    keep the current one.  Here: copy the other player, and now and then
    try something else.
    """
    if state.rng.random() < 0.2:
        return state.rng.choice([0.0, 0.5, 1.0])
    if state.other_decision is not None and state.other_decision != state.my_decision:
        return state.other_decision
    return None


class PlayerBot(Bot):
    def play_round(self):
        # the first bot of the group plays the whole group's period (one
        # socket per member) and returns when the server has ended it
        me = play_realtime(self, strategy, rate=4)
        expect(me.ended, True)
        expect(me.errors, [])
        # the real-time page has no submit button: <redwood-period> submits
        # it in a browser, the bot does it with after_period()
        yield after_period(pages.Decision)
        # the payoff is an average of the matrix's entries (0 to 5 points)
        expect(0, "<=", self.player.payoff)
        expect(self.player.payoff, "<=", 5)
        yield pages.Results
