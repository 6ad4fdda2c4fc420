"""Bots for ``otree test continuous_pd``: the real-time page played over its socket."""
from otree.api import Bot, expect

from otree_redwood.bots import after_period, play_realtime
from otree_redwood.payoffs import decision_series, integrate

from . import pages
from .payoffs import MATRIX, flow_payoff, own_decision


def strategy(state):
    """Noisy tit-for-tat: copy the other's last move, now and then deviate."""
    if state.rng.random() < 0.25:
        return state.rng.choice([0, 1])
    other = state.other_decision
    if other is not None and other != state.my_decision:
        return other
    return None


class PlayerBot(Bot):
    def play_round(self):
        me = play_realtime(self, strategy, rate=5)
        expect(me.ended, True)
        expect(me.errors, [])
        # the decisions this member sent all reached the group (the last map
        # holds its last decision)
        sent = [payload for channel, payload in me.sent if channel == "decisions"]
        if sent:
            expect(me.history[-1][1][me.code], sent[-1])
        yield after_period(pages.Decide)

        # the payoff the server stored is the one that the history this
        # member saw on the wire gives (server timestamps, ms)
        codes = list(me.group_play.members)
        series = decision_series(
            [(ts, "group_decisions", m) for ts, m in me.history], start_ms=me.start_ts, end_ms=me.end_ts
        )
        payoff = integrate(series, flow_payoff, codes, average=True)[me.code]
        cooperation = integrate(series, own_decision, codes, average=True)[me.code]
        expect(abs(float(self.player.payoff) - payoff), "<=", 0.5 + 1e-6)
        expect(min(MATRIX.values()), "<=", float(self.player.payoff))
        expect(float(self.player.payoff), "<=", max(MATRIX.values()))
        expect(abs(self.player.cooperation - cooperation), "<", 0.01)
        expect(str(self.player.payoff) in self.html, True)
        yield pages.Results
