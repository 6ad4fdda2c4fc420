"""Bots for ``otree test subperiod_pd``."""
from otree.api import Bot, expect

from otree_redwood.bots import after_period, play_realtime

from . import pages
from .payoffs import subperiod_maps, subperiod_payoffs


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
        maps = subperiod_maps(
            [(ts / 1000.0, m) for ts, m in me.history],
            me.start_ts / 1000.0, me.end_ts / 1000.0, n, group.period_length(),
        )
        expect(len(maps), n)
        sent = [p for c, p in me.sent if c == "decisions"]
        expect(len(sent), ">", n)  # decided more often than maps were sent
        yield after_period(pages.Decide)

        codes = list(me.group_play.members)
        expected = subperiod_payoffs(maps, codes)[me.code]
        expect(self.player.subperiods_played, n)
        expect(abs(float(self.player.payoff) - expected["payoff"]), "<=", 0.5 + 1e-6)
        expect(abs(self.player.cooperation - expected["cooperation"]), "<", 1e-9)
        expect(self.group.subperiod_group_decisions, maps[-1])
        yield pages.Results
