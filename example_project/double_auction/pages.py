from otree.api import Page

from .models import Constants


class Trade(Page):
    """The real-time market: <redwood-period> submits it at the period's end."""

    def vars_for_template(self):
        player = self.player
        return {
            "role": player.role(),
            "period_length": self.group.period_length(),
            "units": self.group.units_per_trader(),
            "max_price": Constants.max_price,
        }


class Results(Page):
    def vars_for_template(self):
        me = self.player.id_in_group
        trades = [t for t in (self.group.trades or []) if me in (t["buyer"], t["seller"])]
        return {"my_trades": trades, "all_trades": len(self.group.trades or [])}


page_sequence = [Trade, Results]
