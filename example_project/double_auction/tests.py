"""Bots for ``otree test double_auction``: traders on custom channels."""
from otree.api import Bot, expect

from otree_redwood.bots import after_period, play_realtime

from . import pages
from .market import is_crossed, profit


def strategy(state):
    """Random orders that may trade, now and then a cancel, and one invalid order."""
    info, memory = state.info, state.memory
    memory.setdefault("refs", 0)
    memory["refs"] += 1
    ref = "%s-%d" % (state.code, memory["refs"])
    if "invalid" not in memory:
        # a loss-making order: the server must refuse it, privately
        memory["invalid"] = ref
        price = info["limit"] + 10 if state.role == "buyer" else info["limit"] - 10
        state.send("bid" if state.role == "buyer" else "ask", {"price": price, "ref": ref})
        return None
    if state.rng.random() < 0.1:
        state.send("cancel", {"ref": ref})
    elif state.role == "buyer":
        state.send("bid", {"price": state.rng.randint(max(1, info["limit"] - 40), info["limit"]), "ref": ref})
    else:
        state.send("ask", {"price": state.rng.randint(info["limit"], info["limit"] + 40), "ref": ref})
    return None


def player_info(player):
    return {"limit": player.limit}


class PlayerBot(Bot):
    def play_round(self):
        me = play_realtime(self, strategy, rate=4, player_info=player_info)
        expect(me.ended, True)
        expect(me.errors, [])
        # replies are private: this member got replies to its own orders only
        replies = me.on("order_rejected") + me.on("order_accepted")
        expect(len(replies), ">", 0)
        expect(all(r["ref"].startswith(me.code + "-") for r in replies if r.get("ref")), True)
        rejected = {r["ref"]: r["reason"] for r in me.on("order_rejected")}
        expect(me.memory["invalid"] in rejected, True)
        expect("cannot" in rejected[me.memory["invalid"]], True)
        # the book was never left crossed, and every trade was at no loss
        for book in me.on("book"):
            expect(is_crossed(book), False)
        trades = me.on("trade")
        expect(trades, self.group.trades)
        limits = {s.id_in_group: s.info["limit"] for s in me.group_play.members.values()}
        for t in trades:
            expect(limits[t["buyer"]], ">=", t["price"])
            expect(limits[t["seller"]], "<=", t["price"])
        yield after_period(pages.Trade)

        mine = [t for t in trades if self.player.id_in_group in (t["buyer"], t["seller"])]
        expect(self.player.units_traded, len(mine))
        expect(self.player.units_traded, "<=", self.group.units_per_trader())
        earned = sum(profit(self.player.role(), self.player.limit, t["price"]) for t in mine)
        expect(self.player.payoff, earned)
        yield pages.Results
