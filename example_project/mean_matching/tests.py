"""Bots for ``otree test mean_matching``: a large group deciding faster than the rate limit."""
from otree.api import Bot, expect

from otree_redwood.bots import after_period, play_realtime

from . import pages
from .payoffs import mixed_equilibrium, time_weighted_payoffs

#: Decisions per second and player: well above the broadcasts' rate limit.
RATE = 12


def strategy(state):
    """Noisy best response: drift towards Hawk when the others are dovish."""
    mine = state.my_decision if state.my_decision is not None else 0.5
    others = state.others_mean
    target = 0.5 if others is None else (1.0 if others < mixed_equilibrium() else 0.0)
    step = mine + 0.3 * (target - mine) + state.rng.uniform(-0.1, 0.1)
    return round(min(1.0, max(0.0, step)), 3)


class PlayerBot(Bot):
    def play_round(self):
        me = play_realtime(self, strategy, rate=RATE)
        expect(me.ended, True)
        expect(me.errors, [])
        limit_ms = self.group.rate_limit() * 1000.0
        maps = [(ts, m) for ts, m in me.history if ts >= me.start_ts]
        # between the initial map and the final flush, broadcasts are spaced
        # by the rate limit (a few ms of clock granularity allowed)
        gaps = [b[0] - a[0] for a, b in zip(maps[1:-1], maps[2:-1])]
        expect(len(gaps), ">=", 1)
        expect(min(gaps), ">=", limit_ms - 5)
        sent = [p for c, p in me.sent if c == "decisions"]
        total = sum(len([c for c, _ in s.sent if c == "decisions"]) for s in me.group_play.members.values())
        expect(len(maps), "<", total / 2)  # the group's decisions were coalesced
        # nothing was lost: the last map holds one of this member's decisions
        expect(maps[-1][1][me.code], "in", sent + [self.player.initial_decision()])
        yield after_period(pages.Decide)

        codes = list(me.group_play.members)
        expected = time_weighted_payoffs(
            [(ts / 1000.0, m) for ts, m in maps], me.start_ts / 1000.0, me.end_ts / 1000.0, codes
        )[me.code]
        expect(abs(float(self.player.payoff) - expected["payoff"]), "<=", 0.5 + 1e-6)
        expect(abs(self.player.hawk - expected["hawk"]), "<", 0.01)
        yield pages.Results
