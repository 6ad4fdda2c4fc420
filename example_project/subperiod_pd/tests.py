"""Bots for ``otree test subperiod_pd``."""
from otree.api import Bot, expect

from otree_redwood.bots import after_period, play_realtime
from otree_redwood.payoffs import decision_series, integrate

from . import pages
from .payoffs import flow_payoff, own_decision


def strategy(state):
    """Change one's mind often: many decisions, one counted per sub-period."""
    return state.rng.choice([0, 1])


class PlayerBot(Bot):
    def play_round(self):
        me = play_realtime(self, strategy, rate=10)
        expect(me.ended, True)
        expect(me.errors, [])
        group = self.group
        n = group.num_subperiods()
        # the page saw exactly one map per sub-period (plus the initial one)
        series = decision_series(
            [(ts, "group_decisions", m) for ts, m in me.history], start_ms=me.start_ts, end_ms=me.end_ts,
            num_subperiods=n, period_length=group.period_length(),
        )
        maps = [m for _, m in series.steps]
        expect(len(maps), n)
        sent = [p for c, p in me.sent if c == "decisions"]
        expect(len(sent), ">", n)  # decided more often than maps were sent
        yield after_period(pages.Decide)

        codes = list(me.group_play.members)
        payoff = integrate(series, flow_payoff, codes, average=True)[me.code]
        cooperation = integrate(series, own_decision, codes, average=True)[me.code]
        expect(self.player.subperiods_played, n)
        expect(abs(float(self.player.payoff) - payoff), "<=", 0.5 + 1e-6)
        expect(abs(self.player.cooperation - cooperation), "<", 0.01)
        expect(self.group.subperiod_group_decisions, maps[-1])
        yield pages.Results
