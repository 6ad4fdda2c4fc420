"""Bots for ``otree test mean_matching``: a large group deciding faster than the rate limit."""
from otree.api import Bot, expect

from otree_redwood.bots import after_period, play_realtime
from otree_redwood.payoffs import decision_series, integrate

from . import pages
from .payoffs import flow_against_others, mixed_equilibrium

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
        # between the initial map and the final flush, broadcasts come on the
        # rate limit's grid (start + k * rate_limit, as in 0.9.x), at most
        # one per grid step (never early; how late depends on the machine)
        steps = [int((ts - me.start_ts) // limit_ms) for ts, _ in maps[1:-1]]
        expect(len(steps), ">=", 1)
        expect(min(steps), ">=", 1)
        expect(len(set(steps)), "==", len(steps))
        sent = [p for c, p in me.sent if c == "decisions"]
        total = sum(len([c for c, _ in s.sent if c == "decisions"]) for s in me.group_play.members.values())
        expect(len(maps), "<", total / 2)  # the group's decisions were coalesced
        # nothing was lost: the last map holds one of this member's decisions
        expect(maps[-1][1][me.code], "in", sent + [self.player.initial_decision()])
        yield after_period(pages.Decide)

        # the payoff is what the maps this member saw on the wire give
        # (server timestamps, ms)
        codes = list(me.group_play.members)
        series = decision_series(
            [(ts, "group_decisions", m) for ts, m in maps], start_ms=me.start_ts, end_ms=me.end_ts
        )
        payoff = integrate(series, flow_against_others, codes, average=True)[me.code]
        hawk = integrate(series, lambda mine, others: mine, codes, average=True)[me.code]
        expect(abs(float(self.player.payoff) - payoff), "<=", 0.5 + 1e-6)
        expect(abs(self.player.hawk - hawk), "<", 0.01)
        yield pages.Results
